//! Scale-out: three `ikanos serve` replicas (each in its own network namespace, each
//! pulling the capability from the registry and opening its own SSH session to the
//! relay) behind HAProxy. One replica's tunnel goes down: its readiness turns 503, the
//! balancer stops sending it traffic and the others answer, with no wrong answer; the
//! tunnel comes back and so does the replica's share. See support/fleet.rs for the
//! machines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::fleet::{self, Fleet};
use crate::support::{expected_names, try_get};

/// What the clients saw: (when the request was sent, status, body was right).
type Seen = Arc<Mutex<Vec<(Instant, u16, bool)>>>;

fn clients(
    fleet: &Fleet,
    threads: usize,
    stop: &Arc<AtomicBool>,
    seen: &Seen,
) -> Vec<std::thread::JoinHandle<()>> {
    let url = fleet.url("/customers");
    let expected = expected_names();
    (0..threads)
        .map(|_| {
            let (url, expected, stop, seen) =
                (url.clone(), expected.clone(), stop.clone(), seen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let sent = Instant::now();
                    let r = try_get(&url);
                    let (status, right) = match &r {
                        Some(r) => (
                            r.status,
                            r.status == 200
                                && serde_json::from_str::<serde_json::Value>(&r.body).ok()
                                    == Some(expected.clone()),
                        ),
                        None => (0, false),
                    };
                    seen.lock().unwrap().push((sent, status, right));
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect()
}

#[test]
fn a_replica_whose_tunnel_is_down_leaves_the_balancer_and_the_others_answer() {
    if let Some(why) = fleet::missing() {
        eprintln!("SKIP: {why}");
        return;
    }
    let fleet = Fleet::start(3);
    assert_eq!(fleet.states(), ["UP", "UP", "UP"]);
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Seen = Arc::default();
    let load = clients(&fleet, 2, &stop, &seen);

    // Every replica takes a share.
    let deadline = Instant::now() + Duration::from_secs(60);
    while (0..3).any(|i| fleet.answered(i) < 5) {
        assert!(
            Instant::now() < deadline,
            "not every replica answered: {:?}; clients saw {:?}; replica 0's metrics:\n{}",
            (0..3).map(|i| fleet.answered(i)).collect::<Vec<_>>(),
            seen.lock()
                .unwrap()
                .iter()
                .take(5)
                .map(|(_, s, r)| (*s, *r))
                .collect::<Vec<_>>(),
            fleet
                .metrics(0)
                .lines()
                .filter(|l| l.contains("request"))
                .take(10)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Replica 1 loses its route to the relay: its tunnel, and only its, goes down.
    fleet.partition(1, true);
    fleet.wait_states(Duration::from_secs(60), |s| {
        s[1] == "DOWN" && s[0] == "UP" && s[2] == "UP"
    });
    let down_at = Instant::now();
    assert_eq!(fleet.ready(1), 503, "readiness follows the tunnel");
    assert_eq!(fleet.ready(0), 200);
    let sent = fleet.sent(1);
    let others = fleet.answered(0) + fleet.answered(2);
    let deadline = Instant::now() + Duration::from_secs(60);
    while fleet.answered(0) + fleet.answered(2) < others + 50 {
        assert!(Instant::now() < deadline, "the others did not take over");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        fleet.sent(1),
        sent,
        "the balancer still sent replica 1 traffic"
    );

    // The route comes back: the session reconnects, the replica is ready and serves.
    fleet.partition(1, false);
    fleet.wait_states(Duration::from_secs(90), |s| s.iter().all(|s| s == "UP"));
    let back = fleet.answered(1);
    let deadline = Instant::now() + Duration::from_secs(30);
    while fleet.answered(1) < back + 5 {
        assert!(
            Instant::now() < deadline,
            "replica 1 never took its share again"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    for t in load {
        t.join().unwrap();
    }

    let seen = seen.lock().unwrap();
    let wrong: Vec<_> = seen
        .iter()
        .filter(|(_, s, right)| *s == 200 && !right)
        .collect();
    let failed: Vec<_> = seen.iter().filter(|(_, s, _)| *s != 200).collect();
    let failed_after_down = failed.iter().filter(|(t, _, _)| *t > down_at).count();
    eprintln!(
        "scale: {} answers through the balancer, {} not 200 ({} after replica 1 was taken out), {} wrong",
        seen.len(),
        failed.len(),
        failed_after_down,
        wrong.len()
    );
    assert!(wrong.is_empty(), "wrong answers: {wrong:?}");
    assert_eq!(
        failed_after_down, 0,
        "once replica 1 was out, every answer came from the others"
    );
    // No answer ever came from around the tunnel: the private API saw every call.
    assert!(fleet.private.connections() > 0);
}
