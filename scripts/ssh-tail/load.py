# Load for scripts/ssh-tail/run: N keep-alive connections, sequential GETs on each;
# prints throughput, p50, p99 and how many requests took over 30 ms (a delayed-ACK stall).
# Usage: load.py PORT CONNECTIONS SECONDS
import asyncio, sys, time
port=int(sys.argv[1]); conns=int(sys.argv[2]); secs=float(sys.argv[3])
REQ=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
lat=[]
async def worker(end):
    r,w=await asyncio.open_connection("127.0.0.1",port)
    while time.monotonic()<end:
        t=time.perf_counter(); w.write(REQ); await w.drain()
        await r.readuntil(b"\r\n\r\n"); await r.readexactly(11)
        lat.append(time.perf_counter()-t)
    w.close()
async def main():
    end=time.monotonic()+1
    await asyncio.gather(*[worker(end) for _ in range(conns)])
    lat.clear()
    end=time.monotonic()+secs
    await asyncio.gather(*[worker(end) for _ in range(conns)])
    lat.sort(); n=len(lat)
    print(f"{n/secs:8.0f} req/s p50 {lat[n//2]*1e6:8.0f} us p99 {lat[int(n*.99)]*1e6:8.0f} us  >30ms: {sum(1 for x in lat if x>0.03)} of {n}")
asyncio.run(main())
