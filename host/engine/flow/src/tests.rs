//! Tests with a fake [`Env`]: upstream's engine tests ported (each names its source), and
//! the tutorial samples (step-1 … step-11) run against the data the tutorial describes.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::definition::{self, OutputParam, StepMapping};
use crate::jsonpath::PathCache;
use crate::template::{Layered, Params};
use crate::{
    call, mapping, mock, run, CallFailure, Definition, Env, FlowError, Output, Request, Upstream,
};

/// One recorded call: `ns.op`, the parameters handed over, the body.
type Recorded = (String, Vec<(String, String)>, Option<String>);

#[derive(Default)]
struct Fake {
    responses: HashMap<String, Upstream>,
    /// Conversions for non-JSON formats: format → JSON.
    converted: HashMap<String, Value>,
    calls: Vec<Recorded>,
    steps: Vec<(String, String, bool)>,
    conversions: Vec<String>,
    /// Script steps run: (step, language, sources, context).
    scripts: Vec<(String, String, Vec<String>, Value)>,
    /// What a script step gives, by step name (default: no result).
    script_results: HashMap<String, Result<Option<Value>, FlowError>>,
}

impl Fake {
    fn with(mut self, reference: &str, status: u16, body: Value) -> Self {
        self.responses.insert(
            reference.to_string(),
            Upstream {
                status,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: body.to_string().into_bytes(),
            },
        );
        self
    }
    fn raw(mut self, reference: &str, status: u16, ct: &str, body: &[u8]) -> Self {
        self.responses.insert(
            reference.to_string(),
            Upstream {
                status,
                headers: vec![("Content-Type".into(), ct.into())],
                body: body.to_vec(),
            },
        );
        self
    }
}

impl Env for Fake {
    fn call(
        &mut self,
        namespace: &str,
        operation: &str,
        params: Vec<(String, String)>,
        body: Option<Vec<u8>>,
    ) -> Result<Upstream, CallFailure> {
        let reference = format!("{namespace}.{operation}");
        self.calls.push((
            reference.clone(),
            params,
            body.map(|b| String::from_utf8_lossy(&b).into_owned()),
        ));
        self.responses
            .get(&reference)
            .cloned()
            .ok_or(CallFailure::Transport("connection refused".into()))
    }
    fn convert(
        &mut self,
        format: &str,
        body: &[u8],
        _schema: Option<&Value>,
    ) -> Result<Value, String> {
        self.conversions.push(format.to_string());
        if format == "json" {
            return serde_json::from_slice(body).map_err(|e| e.to_string());
        }
        self.converted
            .get(format)
            .cloned()
            .ok_or_else(|| format!("no {format}"))
    }
    fn step_finished(&mut self, step: &str, kind: &str, _nanos: u64, ok: bool) {
        self.steps.push((step.to_string(), kind.to_string(), ok));
    }
    fn run_script(
        &mut self,
        step: &str,
        language: &str,
        sources: &[String],
        context: &Value,
    ) -> Result<Option<Value>, FlowError> {
        self.scripts.push((
            step.to_string(),
            language.to_string(),
            sources.to_vec(),
            context.clone(),
        ));
        self.script_results.get(step).cloned().unwrap_or(Ok(None))
    }
}

fn definition(v: Value) -> Definition {
    Definition::parse(&v.to_string()).expect("definition parses")
}

fn go(def: &Definition, inputs: &[(&str, &str)], env: &mut Fake) -> Result<Output, FlowError> {
    let inputs: Vec<(String, String)> = inputs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    run(
        def,
        Request {
            inputs: &inputs,
            body: None,
        },
        env,
    )
}

fn body_json(o: &Output) -> Value {
    serde_json::from_slice(&o.body).expect("JSON body")
}

fn params(v: Value) -> Params {
    match v {
        Value::Object(m) => Params(m),
        _ => Params::new(),
    }
}

fn op_param(v: Value) -> OutputParam {
    definition::output_params(Some(&json!([v])), "test")
        .unwrap()
        .remove(0)
}

// --- tutorial data (modules/ikanos-docs/tutorial, mocks.naftiko.net shipyard registry)

fn ship() -> Value {
    json!({
        "imo_number": "IMO-9321483", "vessel_name": "Northern Star", "vessel_type": "cargo",
        "flag_code": "NO", "operational_status": "active", "year_built": 2015,
        "gross_tonnage": 42000, "dimensions": {"length_overall": 229},
        "assignedCrew": ["CREW-001", "CREW-003"]
    })
}

fn ships() -> Value {
    json!([
        {"imo_number": "IMO-9321483", "vessel_name": "Northern Star", "vessel_type": "cargo", "flag_code": "NO", "operational_status": "active"},
        {"imo_number": "IMO-9785641", "vessel_name": "Pacific Dawn", "vessel_type": "tanker", "flag_code": "SG", "operational_status": "active"}
    ])
}

fn crew() -> Value {
    json!([
        {"crewId": "CREW-001", "fullName": "Erik Lindstrøm", "role": "captain", "nationality": "NO"},
        {"crewId": "CREW-002", "fullName": "Mei Tanaka", "role": "engineer", "nationality": "JP"},
        {"crewId": "CREW-003", "fullName": "Ana Souza", "role": "first-officer", "nationality": "BR"}
    ])
}

fn registry_consumes() -> Value {
    json!({
        "registry": {
            "list-ships": {"method": "GET", "inputParameters": {"Registry-Version": {"in": "header", "value": "{{REGISTRY_VERSION}}"}, "status": {"in": "query"}}},
            "get-ship": {"method": "GET", "inputParameters": {"Registry-Version": {"in": "header", "value": "{{REGISTRY_VERSION}}"}, "imo_number": {"in": "path"}}},
            "list-crew": {"method": "GET", "inputParameters": {"Registry-Version": {"in": "header", "value": "{{REGISTRY_VERSION}}"}}},
            "create-voyage": {"method": "POST", "inputParameters": {"Registry-Version": {"in": "header", "value": "{{REGISTRY_VERSION}}"}},
                "body": "{\n  \"shipImo\": \"{{shipImo}}\",\n  \"crewIds\": {{crewIds}},\n  \"cargoIds\": {{cargoIds}}\n}\n"}
        },
        "legacy": {
            "list-vessels": {"method": "GET", "outputRawFormat": "xml", "inputParameters": {"status": {"in": "query"}}}
        }
    })
}

fn ship_output() -> Value {
    json!([{
        "type": "object",
        "properties": {
            "imo": {"type": "string", "mapping": "$.imo_number"},
            "name": {"type": "string", "mapping": "$.vessel_name"},
            "type": {"type": "string", "mapping": "$.vessel_type"},
            "flag": {"type": "string", "mapping": "$.flag_code"},
            "status": {"type": "string", "mapping": "$.operational_status"},
            "specs": {"type": "object", "properties": {
                "yearBuilt": {"type": "number", "mapping": "$.year_built"},
                "tonnage": {"type": "number", "mapping": "$.gross_tonnage"},
                "length": {"type": "number", "mapping": "$.dimensions.length_overall"}
            }}
        }
    }])
}

fn crew_steps() -> Value {
    json!({
        "get-ship": {"type": "call", "call": "registry.get-ship", "with": {"imo_number": "{{imo}}"}},
        "list-crew": {"type": "call", "call": "registry.list-crew"},
        "resolve-crew": {"type": "lookup", "index": "list-crew", "match": "crewId",
            "lookupValue": "$.get-ship.assignedCrew", "outputParameters": ["fullName", "role"]}
    })
}

fn crew_mappings() -> Value {
    json!([
        {"target": "imo", "value": "$.get-ship.imo_number"},
        {"target": "name", "value": "$.get-ship.vessel_name"},
        {"target": "status", "value": "$.get-ship.operational_status"},
        {"target": "length", "value": "$.get-ship.dimensions.length_overall"},
        {"target": "crew", "value": "$.resolve-crew"}
    ])
}

fn crew_expected() -> Value {
    json!({
        "imo": "IMO-9321483", "name": "Northern Star", "status": "active", "length": 229,
        "crew": [
            {"fullName": "Erik Lindstrøm", "role": "captain"},
            {"fullName": "Ana Souza", "role": "first-officer"}
        ]
    })
}

// step-1-shipyard-mock.yml: get-ship answers from `value`s, `{{imo_number}}` from the input.
#[test]
fn tutorial_step1_mock_tool() {
    let def = definition(json!({
        "adapter": "mcp", "name": "get-ship", "namespace": "shipyard-tools",
        "operation": {
            "inputParameters": {"imo_number": {"type": "string", "required": true}},
            "outputParameters": {
                "imo": {"type": "string", "value": "{{imo_number}}"},
                "name": {"type": "string", "value": "Northern Star"},
                "type": {"type": "string", "value": "cargo"},
                "flag": {"type": "string", "value": "NO"},
                "status": {"type": "string", "value": "active"}
            }
        }
    }));
    let mut env = Fake::default();
    let out = go(&def, &[("imo_number", "IMO-9321483")], &mut env).unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(
        String::from_utf8(out.body).unwrap(),
        r#"{"imo":"IMO-9321483","name":"Northern Star","type":"cargo","flag":"NO","status":"active"}"#
    );
    assert!(env.calls.is_empty());
}

// step-2 … step-4, step-7: list-ships with `with: status: shipyard-tools.status` and an
// array mapping over the root.
#[test]
fn tutorial_list_ships_maps_array_and_passes_namespace_reference() {
    let def = definition(json!({
        "adapter": "mcp", "name": "list-ships", "namespace": "shipyard-tools",
        "operation": {
            "call": "registry.list-ships",
            "with": {"status": "shipyard-tools.status"},
            "outputParameters": [{
                "type": "array", "mapping": "$.",
                "items": {"type": "object", "properties": {
                    "imo": {"type": "string", "mapping": "$.imo_number"},
                    "name": {"type": "string", "mapping": "$.vessel_name"},
                    "status": {"type": "string", "mapping": "$.operational_status"}
                }}
            }]
        },
        "consumes": registry_consumes()
    }));
    let mut env = Fake::default().with("registry.list-ships", 200, ships());
    let out = go(&def, &[("status", "active")], &mut env).unwrap();
    assert_eq!(
        body_json(&out),
        json!([
            {"imo": "IMO-9321483", "name": "Northern Star", "status": "active"},
            {"imo": "IMO-9785641", "name": "Pacific Dawn", "status": "active"}
        ])
    );
    // Only the declared, non-fixed parameter is handed over.
    assert_eq!(
        env.calls[0].1,
        vec![("status".to_string(), "active".to_string())]
    );
    // Without the argument nothing is sent (the namespace reference resolves to nothing).
    let mut env = Fake::default().with("registry.list-ships", 200, ships());
    go(&def, &[], &mut env).unwrap();
    assert!(env.calls[0].1.is_empty());
}

// step-4-shipyard-output-shaping.yml: nested `specs` object without a mapping.
#[test]
fn tutorial_step4_get_ship_nested_object() {
    let def = definition(json!({
        "adapter": "mcp", "name": "get-ship", "namespace": "shipyard-tools",
        "operation": {"call": "registry.get-ship", "with": {"imo_number": "shipyard-tools.imo"},
            "outputParameters": ship_output()},
        "consumes": registry_consumes()
    }));
    let mut env = Fake::default().with("registry.get-ship", 200, ship());
    let out = go(&def, &[("imo", "IMO-9321483")], &mut env).unwrap();
    assert_eq!(
        String::from_utf8(out.body).unwrap(),
        r#"{"imo":"IMO-9321483","name":"Northern Star","type":"cargo","flag":"NO","status":"active","specs":{"yearBuilt":2015,"tonnage":42000,"length":229}}"#
    );
    assert_eq!(
        env.calls[0].1,
        vec![("imo_number".to_string(), "IMO-9321483".to_string())]
    );
}

// step-10-shipyard-rest-adapter.yml: REST get-ship with `with: imo_number: "{{imo}}"`; an
// upstream 404 is forwarded with its body (no mapping applies to it).
#[test]
fn tutorial_step10_rest_get_ship_and_upstream_error() {
    let def = definition(json!({
        "adapter": "rest", "name": "get-ship", "namespace": "shipyard-api",
        "operation": {"method": "GET", "call": "registry.get-ship", "with": {"imo_number": "{{imo}}"},
            "outputParameters": ship_output()},
        "consumes": registry_consumes()
    }));
    let mut env = Fake::default().with("registry.get-ship", 200, ship());
    let out = go(&def, &[("imo", "IMO-9321483")], &mut env).unwrap();
    assert_eq!(
        (out.status, out.content_type.as_str()),
        (200, "application/json")
    );
    assert_eq!(
        body_json(&out)["specs"],
        json!({"yearBuilt": 2015, "tonnage": 42000, "length": 229})
    );

    let mut env =
        Fake::default().with("registry.get-ship", 404, json!({"error": "ship not found"}));
    let out = go(&def, &[("imo", "IMO-0")], &mut env).unwrap();
    // The object mapping still maps (every property null), as upstream does.
    assert_eq!(out.status, 404);
    assert_eq!(
        body_json(&out),
        json!({"imo": null, "name": null, "type": null, "flag": null, "status": null,
               "specs": {"yearBuilt": null, "tonnage": null, "length": null}})
    );
}

// REST without outputParameters forwards the upstream body and type as they are.
#[test]
fn rest_without_output_parameters_forwards_raw_body() {
    let def = definition(json!({
        "adapter": "rest", "name": "list-crew",
        "operation": {"method": "GET", "call": "registry.list-crew"},
        "consumes": registry_consumes()
    }));
    let mut env = Fake::default().raw("registry.list-crew", 503, "text/plain", b"down");
    let out = go(&def, &[], &mut env).unwrap();
    assert_eq!(
        out,
        Output {
            status: 503,
            content_type: "text/plain".into(),
            body: b"down".to_vec(),
            binary: false
        }
    );
}

// step-6/step-7 create-voyage: the consumed body template is rendered with every
// parameter; array inputs arrive as JSON text and stay JSON.
#[test]
fn tutorial_create_voyage_renders_body() {
    let def = definition(json!({
        "adapter": "rest", "name": "create-voyage", "namespace": "shipyard-api",
        "operation": {"method": "POST", "call": "registry.create-voyage",
            "with": {"shipImo": "shipyard-api.shipImo", "crewIds": "shipyard-api.crewIds", "cargoIds": "shipyard-api.cargoIds"},
            "outputParameters": [{"type": "object", "properties": {
                "voyageId": {"type": "string", "mapping": "$.voyageId"},
                "route": {"type": "object", "properties": {"from": {"type": "string", "mapping": "$.departurePort"}}},
                "crewIds": {"type": "array", "mapping": "$.crewIds", "items": {"type": "string", "mapping": "$."}}
            }}]},
        "consumes": registry_consumes()
    }));
    let mut env = Fake::default().with(
        "registry.create-voyage",
        201,
        json!({"voyageId": "VOY-2026-042", "departurePort": "Oslo", "crewIds": ["CREW-001"]}),
    );
    let out = go(
        &def,
        &[
            ("shipImo", "IMO-9321483"),
            ("crewIds", "[\"CREW-001\"]"),
            ("cargoIds", "[]"),
        ],
        &mut env,
    )
    .unwrap();
    assert_eq!(out.status, 201);
    assert_eq!(
        body_json(&out),
        json!({"voyageId": "VOY-2026-042", "route": {"from": "Oslo"}, "crewIds": ["CREW-001"]})
    );
    assert_eq!(
        env.calls[0].2.as_deref(),
        Some("{\n  \"shipImo\": \"IMO-9321483\",\n  \"crewIds\": [\"CREW-001\"],\n  \"cargoIds\": []\n}\n")
    );
}

// step-5/step-7 list-legacy-vessels: `outputRawFormat: xml` goes through Env::convert.
#[test]
fn tutorial_legacy_vessels_converted_before_mapping() {
    let def = definition(json!({
        "adapter": "mcp", "name": "list-legacy-vessels", "namespace": "shipyard-tools",
        "operation": {"call": "legacy.list-vessels", "with": {"status": "shipyard-tools.status"},
            "outputParameters": [{"type": "array", "mapping": "$.vessel", "items": {"type": "object", "properties": {
                "vesselCode": {"type": "string", "mapping": "$.vesselCode"},
                "name": {"type": "string", "mapping": "$.vesselName"}}}}]},
        "consumes": registry_consumes()
    }));
    let mut env = Fake::default().raw("legacy.list-vessels", 200, "application/xml", b"<vessels/>");
    env.converted.insert(
        "xml".into(),
        json!({"vessel": [{"vesselCode": "V001", "vesselName": "Sea Eagle", "category": "tug"}]}),
    );
    let out = go(&def, &[], &mut env).unwrap();
    assert_eq!(
        body_json(&out),
        json!([{"vesselCode": "V001", "name": "Sea Eagle"}])
    );
    assert_eq!(env.conversions, vec!["xml".to_string()]);
}

// step-7-shipyard-orchestrated-lookup.yml: get-ship-with-crew (steps, lookup, mappings).
#[test]
fn tutorial_step7_ship_with_crew() {
    for adapter in ["mcp", "rest"] {
        let def = definition(json!({
            "adapter": adapter, "name": "get-ship-with-crew", "namespace": "shipyard-tools",
            "operation": {"steps": crew_steps(), "mappings": crew_mappings(),
                "outputParameters": {"imo": {"type": "string"}, "crew": {"type": "array", "items": {"fullName": {"type": "string"}}}}},
            "consumes": registry_consumes()
        }));
        let mut env = Fake::default().with("registry.get-ship", 200, ship()).with(
            "registry.list-crew",
            200,
            crew(),
        );
        let out = go(&def, &[("imo", "IMO-9321483")], &mut env).unwrap();
        assert_eq!(
            (out.status, out.content_type.as_str()),
            (200, "application/json")
        );
        assert_eq!(body_json(&out), crew_expected());
        assert_eq!(
            env.steps,
            vec![
                ("get-ship".to_string(), "call".to_string(), true),
                ("list-crew".to_string(), "call".to_string(), true),
                ("resolve-crew".to_string(), "lookup".to_string(), true)
            ]
        );
        assert_eq!(
            env.calls[0].1,
            vec![("imo_number".to_string(), "IMO-9321483".to_string())]
        );
    }
}

// step-9-shipyard-aggregates.yml: a tool with `ref` runs the aggregate function.
#[test]
fn tutorial_step9_aggregate_ref() {
    let def = definition(json!({
        "adapter": "mcp", "name": "get-ship-with-crew", "namespace": "shipyard-tools",
        "operation": {"ref": "crew-resolver.resolve-crew-for-ship", "inputParameters": {"imo": {"type": "string"}}},
        "function": {"semantics": {"safe": true}, "inputParameters": {"imo": {"type": "string"}},
            "steps": crew_steps(), "mappings": crew_mappings()},
        "consumes": registry_consumes()
    }));
    let mut env = Fake::default().with("registry.get-ship", 200, ship()).with(
        "registry.list-crew",
        200,
        crew(),
    );
    let out = go(&def, &[("imo", "IMO-9321483")], &mut env).unwrap();
    assert_eq!(body_json(&out), crew_expected());
}

// step-11-shipyard-fleet-manifest.yml style: a REST operation whose `ref` function calls
// one consumed operation; with no function outputParameters the operation's own apply.
#[test]
fn aggregate_simple_call_falls_back_to_operation_outputs() {
    let def = definition(json!({
        "adapter": "rest", "name": "get-ship", "namespace": "shipyard-api",
        "operation": {"method": "GET", "ref": "fleet.ship", "outputParameters": [{"type": "string", "mapping": "$.vessel_name"}]},
        "function": {"call": "registry.get-ship", "with": {"imo_number": "fleet.imo"}},
        "consumes": registry_consumes()
    }));
    let mut env = Fake::default().with("registry.get-ship", 200, ship());
    let out = go(&def, &[("imo", "IMO-9321483")], &mut env).unwrap();
    assert_eq!(String::from_utf8(out.body).unwrap(), "\"Northern Star\"");
    assert_eq!(
        env.calls[0].1,
        vec![("imo_number".to_string(), "IMO-9321483".to_string())]
    );
}

// Ported from upstream AggregateFlowTest.executeShouldResolveNamespaceQualifiedReferencesInFlowWith
#[test]
fn aggregate_flow_with_namespace_reference_in_mock() {
    let def = definition(json!({
        "adapter": "rest", "name": "get-voyage",
        "operation": {"method": "GET", "ref": "shipyard.get-voyage"},
        "function": {"with": {"voyage-id": "shipyard.voyage-id"},
            "outputParameters": [{"name": "voyage-id", "type": "string", "value": "{{voyage-id}}"}]}
    }));
    let mut env = Fake::default();
    let out = go(&def, &[("voyage-id", "VOY-2026-042")], &mut env).unwrap();
    assert_eq!(
        String::from_utf8(out.body).unwrap(),
        "{\n  \"voyage-id\" : \"VOY-2026-042\"\n}"
    );
}

// Ported from upstream ResourceRestletTest.handleShouldBuildMockResponseFromConstOutputParameters
// (exact bytes of Jackson's pretty printer).
#[test]
fn rest_mock_response_pretty_printed() {
    let def = definition(json!({
        "adapter": "rest", "name": "preview",
        "operation": {"method": "GET", "outputParameters": [
            {"name": "status", "type": "string", "value": "ready"},
            {"name": "payload", "type": "object", "properties": {
                "id": {"type": "string", "value": "42"},
                "tags": {"type": "array", "items": {"type": "string", "value": "active"}}
            }}
        ]}
    }));
    let out = go(&def, &[], &mut Fake::default()).unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(
        String::from_utf8(out.body).unwrap(),
        "{\n  \"status\" : \"ready\",\n  \"payload\" : {\n    \"id\" : \"42\",\n    \"tags\" : [ \"active\" ]\n  }\n}"
    );
}

// Ported from upstream ResourceRestletTest.handleShouldReturnNotFoundWhenNoOperationMatchesAndNoForward
#[test]
fn rest_without_call_steps_or_mock_is_not_found() {
    let def = definition(json!({"adapter": "rest", "name": "x", "operation": {"method": "POST"}}));
    assert_eq!(
        go(&def, &[], &mut Fake::default()),
        Err(FlowError::NotFound(
            "Unable to handle the request. Please check the capability specification.".into()
        ))
    );
}

// Ported from upstream ResourceRestletTest.handleShouldReturnBadRequestForInvalidCallFormat
#[test]
fn rest_invalid_call_format() {
    let def = definition(
        json!({"adapter": "rest", "name": "x", "operation": {"method": "GET", "call": "invalidCallFormat"}}),
    );
    assert_eq!(
        go(&def, &[], &mut Fake::default()),
        Err(FlowError::InvalidInput(
            "Invalid call format: invalidCallFormat".into()
        ))
    );
}

// Ported from upstream ResourceRestletTest.canBuildMockResponseShouldCheckNestedConstValues
// and buildMockValueShouldHandleObjectArrayAndPrimitiveFallback.
#[test]
fn mock_helpers() {
    assert!(!mock::can_build(&[]));
    let nested = op_param(
        json!({"name": "payload", "type": "object", "properties": {"status": {"type": "string", "value": "ok"}}}),
    );
    assert!(mock::can_build(std::slice::from_ref(&nested)));
    let p = Params::new();
    assert_eq!(
        mock::build_value(&nested, &p).unwrap(),
        json!({"status": "ok"})
    );
    let arr = op_param(json!({"type": "array", "items": {"type": "string", "value": "v"}}));
    assert_eq!(mock::build_value(&arr, &p).unwrap(), json!(["v"]));
    assert_eq!(
        mock::build_value(&op_param(json!({"type": "string"})), &p).unwrap(),
        Value::Null
    );
}

// Ported from upstream ToolHandlerTest.handleToolCallShouldHandleNullArguments /
// handleToolCallShouldMergeToolWithParameters: a tool with no call or steps answers `{}`.
#[test]
fn tool_without_outputs_answers_empty_object() {
    let def = definition(
        json!({"adapter": "mcp", "name": "test-tool", "operation": {"with": {"fromTool": "fromToolValue"}}}),
    );
    let out = go(&def, &[("fromArgs", "fromArgsValue")], &mut Fake::default()).unwrap();
    assert_eq!(String::from_utf8(out.body).unwrap(), "{}");
}

// Ported from upstream ResolverTest.resolveOutputMappingsShouldRecurseIntoNestedObjectWithoutTopLevelMapping
#[test]
fn resolver_nested_object_without_mapping() {
    let spec = &definition::output_params(Some(&ship_output()), "t").unwrap()[0];
    let v = mapping::resolve(spec, &ship(), None, &mut PathCache::new()).unwrap();
    assert_eq!(
        v["specs"],
        json!({"yearBuilt": 2015, "tonnage": 42000, "length": 229})
    );
    assert_eq!(v["imo"], json!("IMO-9321483"));
}

// Ported from upstream ResolverTest.resolveOutputMappingsShouldHandleNullAndInvalidArrayRoots,
// resolveOutputMappingsShouldHandleArrayItemFallbackAndNullProperties,
// resolveOutputMappingsShouldHandleObjectValuesAndPrimitiveFallback,
// resolveOutputMappingsShouldResolveMustacheTemplatesInValue,
// resolveOutputMappingsShouldReturnRawValueWhenNoParameters.
#[test]
fn resolver_output_mapping_cases() {
    let mut c = PathCache::new();
    let arr = op_param(json!({"type": "array", "mapping": "$.data"}));
    assert_eq!(
        mapping::resolve(&arr, &json!({"data": {"id": 1}}), None, &mut c).unwrap(),
        Value::Null
    );

    let root = json!({"rows": [{"name": "A"}, {"other": "B"}]});
    let rows = op_param(
        json!({"type": "array", "mapping": "$.rows", "items": {"type": "object", "properties": {"name": {"type": "string", "mapping": "$.name"}}}}),
    );
    assert_eq!(
        mapping::resolve(&rows, &root, None, &mut c).unwrap(),
        json!([{"name": "A"}, {"name": null}])
    );
    let pass = op_param(json!({"type": "array", "mapping": "$.rows", "items": {"type": "string"}}));
    assert_eq!(
        mapping::resolve(&pass, &root, None, &mut c).unwrap(),
        root["rows"]
    );

    let root = json!({"map": {"a": {"id": 10}, "b": {"other": 20}}, "value": "xyz"});
    let values = op_param(
        json!({"type": "object", "mapping": "$.map", "values": {"type": "number", "mapping": "$.id"}}),
    );
    assert_eq!(
        mapping::resolve(&values, &root, None, &mut c).unwrap(),
        json!({"a": 10, "b": null})
    );
    let prim = op_param(json!({"type": "string", "mapping": "$.value"}));
    assert_eq!(
        mapping::resolve(&prim, &root, None, &mut c).unwrap(),
        json!("xyz")
    );

    let hello = op_param(json!({"type": "string", "value": "Hello, {{name}}!"}));
    let p = params(json!({"name": "Voyager"}));
    assert_eq!(
        mapping::resolve(&hello, &Value::Null, Some(&p), &mut c).unwrap(),
        json!("Hello, Voyager!")
    );
    let fixed = op_param(json!({"type": "string", "value": "static-text"}));
    assert_eq!(
        mapping::resolve(&fixed, &Value::Null, None, &mut c).unwrap(),
        json!("static-text")
    );
}

// Ported from upstream OutputMappingExtensionTest (all four tests).
#[test]
fn output_mapping_extensions() {
    let mut c = PathCache::new();
    let konst = op_param(json!({"type": "string", "value": "CONST_VAL"}));
    assert_eq!(
        mapping::resolve(&konst, &json!({}), None, &mut c).unwrap(),
        json!("CONST_VAL")
    );

    let item = |n: &str, co: &str| json!({"properties": {"Name": {"title": [{"text": {"content": n}}]}, "Company": {"rich_text": [{"text": {"content": co}}]}}});
    let root = json!({"results": [item("Alice", "Acme"), item("Bob", "BetaCo")]});
    let spec = op_param(
        json!({"type": "array", "mapping": "$.results", "items": {"type": "object", "properties": {
        "name": {"type": "string", "in": "body", "mapping": "$.properties.Name.title[0].text.content"},
        "company": {"type": "string", "in": "body", "mapping": "$.properties.Company.rich_text[0].text.content"}}}}),
    );
    assert_eq!(
        mapping::resolve(&spec, &root, None, &mut c).unwrap(),
        json!([{"name": "Alice", "company": "Acme"}, {"name": "Bob", "company": "BetaCo"}])
    );

    let spec = op_param(
        json!({"type": "object", "mapping": "$.data", "values": {"type": "integer", "mapping": "$.id"}}),
    );
    assert_eq!(
        mapping::resolve(
            &spec,
            &json!({"data": {"a": {"id": 1, "v": "x"}, "b": {"id": 2}}}),
            None,
            &mut c
        )
        .unwrap(),
        json!({"a": 1, "b": 2})
    );

    let spec = op_param(json!({"type": "string", "mapping": "$.long", "maxLength": "5"}));
    assert_eq!(
        mapping::resolve(&spec, &json!({"long": "abcdefghijkl"}), None, &mut c).unwrap(),
        json!("abcde")
    );
}

// Ported from upstream OperationStepExecutorIntegrationTest.applyOutputMappingsShouldReturnFirstMappedValue
#[test]
fn first_mapped_value_wins() {
    let out = definition::output_params(
        Some(&json!([
            {"name": "missing", "type": "string", "mapping": "$.missing"},
            {"name": "id", "type": "string", "mapping": "$.user.id"}
        ])),
        "t",
    )
    .unwrap();
    let v = mapping::first_mapped(&out, &json!({"user": {"id": "u-1"}}), &mut PathCache::new())
        .unwrap();
    assert_eq!(v.unwrap().to_string(), "\"u-1\"");
}

// Ported from upstream OperationStepExecutorTest (the six mergeWith tests).
#[test]
fn merge_with_parameters() {
    let merge = |base: Value, with: Value, ns: Option<&str>| {
        let base = params(base);
        let mut l = Layered::new(&base);
        call::merge_with(with.as_object(), &mut l, ns).unwrap();
        let mut out = base.0.clone();
        out.extend(l.top.0);
        Value::Object(out)
    };
    assert_eq!(
        merge(
            json!({"imo": "IMO-9321483"}),
            json!({"imo_number": "{{imo}}"}),
            None
        )["imo_number"],
        json!("IMO-9321483")
    );
    assert_eq!(
        merge(
            json!({"shipImo": "IMO-9321483"}),
            json!({"shipImo": "shipyard-api.shipImo"}),
            Some("shipyard-api")
        )["shipImo"],
        json!("IMO-9321483")
    );
    assert_eq!(
        merge(
            json!({}),
            json!({"shipImo": "shipyard-api.shipImo"}),
            Some("shipyard-api")
        ),
        json!({})
    );
    assert_eq!(
        merge(json!({}), json!({"pageSize": 100}), None)["pageSize"],
        json!(100)
    );
    let base = params(json!({"existing": "value"}));
    let mut l = Layered::new(&base);
    call::merge_with(None, &mut l, None).unwrap();
    assert!(l.top.is_empty());
    assert_eq!(
        merge(
            json!({"voyageId": "VOY-2026-042"}),
            json!({"voyageId": "shipyard-tools.voyageId"}),
            None
        )["voyageId"],
        json!("shipyard-tools.voyageId")
    );
}

// Ported from upstream OperationStepExecutorBranchTest.privateStepOutputHelpersShouldHandleNamedUnnamedAndNullInputs
// and resolveStepOutputShouldAugmentArrayElementsWithProjectedFields.
#[test]
fn step_output_projection() {
    let mut c = PathCache::new();
    let raw = json!({"id": "u-1", "name": "Alice"});
    assert_eq!(mapping::step_output(&[], raw.clone(), &mut c).unwrap(), raw);
    let out = definition::output_params(
        Some(&json!([
            {"name": "userId", "type": "string", "mapping": "$.id"},
            {"type": "string", "mapping": "$.name"}
        ])),
        "t",
    )
    .unwrap();
    assert_eq!(
        mapping::step_output(&out, raw, &mut c).unwrap(),
        json!({"userId": "u-1"})
    );

    let renamed = definition::output_params(
        Some(&json!([{"name": "imo-number", "type": "string", "mapping": "$.imo_number"}])),
        "t",
    )
    .unwrap();
    let raw = json!([{"imo_number": "IMO-123", "vessel_name": "Star"}, {"imo_number": "IMO-456", "vessel_name": "Dawn"}]);
    assert_eq!(
        mapping::step_output(&renamed, raw, &mut c).unwrap(),
        json!([
            {"imo_number": "IMO-123", "vessel_name": "Star", "imo-number": "IMO-123"},
            {"imo_number": "IMO-456", "vessel_name": "Dawn", "imo-number": "IMO-456"}
        ])
    );
}

// Ported from upstream OperationStepExecutorBranchTest.resolveStepMappingsShouldCreateNestedObjectsFromDotNotation
#[test]
fn step_mappings_nested_targets() {
    let outputs: Map<String, Value> = json!({
        "voyage": {"departurePort": "Oslo", "arrivalPort": "Singapore", "status": "planned"},
        "ship": {"vessel_name": "Northern Star", "vessel_type": "cargo"}
    })
    .as_object()
    .unwrap()
    .clone();
    let m = |t: &str, v: &str| StepMapping {
        target: Some(t.into()),
        value: Some(v.into()),
    };
    let r = mapping::step_mappings(
        &[
            m("status", "$.voyage.status"),
            m("route.from", "$.voyage.departurePort"),
            m("route.to", "$.voyage.arrivalPort"),
            m("ship.name", "$.ship.vessel_name"),
            m("ship.type", "$.ship.vessel_type"),
            m("gone", "$.nothing.here"),
        ],
        &outputs,
    )
    .unwrap();
    assert_eq!(
        r.to_string(),
        r#"{"status":"planned","route":{"from":"Oslo","to":"Singapore"},"ship":{"name":"Northern Star","type":"cargo"}}"#
    );
}

// Ported from upstream OperationStepExecutorIntegrationTest.executeStepsShouldStoreLookupOutputsAndResolveCallStepTemplates
#[test]
fn steps_lookup_and_compound_templates() {
    let def = definition(json!({
        "adapter": "rest", "name": "workflow", "namespace": "steps",
        "operation": {"method": "GET", "steps": [
            {"type": "call", "name": "fetch-users", "call": "testns.list-users"},
            {"type": "lookup", "name": "find-user", "index": "fetch-users", "match": "email",
             "lookupValue": "{{targetEmail}}", "outputParameters": ["id", "email"]},
            {"type": "call", "name": "fetch-profile", "call": "testns.fetch-profile", "with": {"userId": "{{requestingUserId}}"}},
            {"type": "call", "name": "echo-region", "call": "testns.echo-region", "with": {"region": "{{fetch-profile.region}}"}}
        ], "mappings": [{"target": "user", "value": "$.find-user.id"}, {"target": "region", "value": "$.fetch-profile.region"}]},
        "consumes": {"testns": {
            "list-users": {"method": "GET"},
            "fetch-profile": {"method": "GET", "inputParameters": [{"name": "userId", "in": "path"}],
                "outputParameters": [{"name": "region", "type": "string", "mapping": "$.profile.region"}]},
            "echo-region": {"method": "GET", "inputParameters": [{"name": "region", "in": "path"}]}
        }}
    }));
    let mut env = Fake::default()
        .with("testns.list-users", 200, json!([{"id": "u-1", "email": "alice@example.com"}, {"id": "u-2", "email": "bob@example.com"}]))
        .with("testns.fetch-profile", 200, json!({"profile": {"region": "eu"}}))
        .with("testns.echo-region", 200, json!({"ok": true}));
    let out = go(
        &def,
        &[
            ("targetEmail", "bob@example.com"),
            ("requestingUserId", "u-1"),
        ],
        &mut env,
    )
    .unwrap();
    assert_eq!(body_json(&out), json!({"user": "u-2", "region": "eu"}));
    assert_eq!(
        env.calls[1].1,
        vec![("userId".to_string(), "u-1".to_string())]
    );
    assert_eq!(
        env.calls[2].1,
        vec![("region".to_string(), "eu".to_string())]
    );
}

// Ported from upstream OperationStepExecutorBranchTest.executeStepsShouldResolveNamespaceQualifiedReferencesInStepWith
// and OperationStepExecutorIntegrationTest.executeStepsShouldThrowWhenLookupReferencesMissingIndex.
#[test]
fn steps_namespace_reference_and_missing_index() {
    let consumes = json!({"registry": {"get-voyage": {"method": "GET", "inputParameters": [{"name": "voyageId", "in": "path"}]}}});
    let def = definition(json!({
        "adapter": "mcp", "name": "x", "namespace": "shipyard-tools",
        "operation": {"steps": [{"type": "call", "name": "get-voyage", "call": "registry.get-voyage", "with": {"voyageId": "shipyard-tools.voyageId"}}]},
        "consumes": consumes
    }));
    let mut env = Fake::default();
    let r = go(&def, &[("voyageId", "VOY-2026-042")], &mut env);
    assert!(matches!(r, Err(FlowError::Upstream(_))));
    assert_eq!(
        env.calls[0].1,
        vec![("voyageId".to_string(), "VOY-2026-042".to_string())]
    );
    assert_eq!(
        env.steps,
        vec![("get-voyage".to_string(), "call".to_string(), false)]
    );

    let def = definition(
        json!({"adapter": "rest", "name": "dummy", "operation": {"steps": [
        {"type": "lookup", "name": "find", "index": "missing-step", "match": "id", "lookupValue": "x", "outputParameters": ["id"]}]}}),
    );
    assert_eq!(
        go(&def, &[], &mut Fake::default()),
        Err(FlowError::InvalidInput(
            "Lookup step references non-existent step: missing-step (step 'find')".into()
        ))
    );
}

// Ported from upstream OperationStepExecutorIntegrationTest.executeShouldThrowForInvalidCallAndMissingModes
// (MCP resources: `execute` with neither call nor steps, and an unknown call).
#[test]
fn resource_invalid_call_and_missing_mode() {
    let def = definition(
        json!({"adapter": "mcp-resource", "name": "dummy", "operation": {"uri": "data://x"}}),
    );
    assert_eq!(
        go(&def, &[], &mut Fake::default()),
        Err(FlowError::InvalidInput(
            "Resource 'dummy' has neither call nor steps defined".into()
        ))
    );
    let def = definition(
        json!({"adapter": "mcp-resource", "name": "dummy", "operation": {"call": "bad.call"}}),
    );
    assert_eq!(
        go(&def, &[], &mut Fake::default()),
        Err(FlowError::InvalidInput(
            "Invalid call for Resource 'dummy': bad.call".into()
        ))
    );
}

#[test]
fn resource_maps_and_defaults_to_json_mime() {
    let def = definition(
        json!({"adapter": "mcp-resource", "name": "ship", "operation": {
        "uri": "shipyard://ships/{imo}", "call": "registry.get-ship", "with": {"imo_number": "{{imo}}"},
        "outputParameters": [{"type": "string", "mapping": "$.vessel_name"}]}, "consumes": registry_consumes()}),
    );
    let mut env = Fake::default().with("registry.get-ship", 200, ship());
    let out = go(&def, &[("imo", "IMO-9321483")], &mut env).unwrap();
    assert_eq!(
        out,
        Output {
            status: 200,
            content_type: "application/json".into(),
            body: b"\"Northern Star\"".to_vec(),
            binary: false
        }
    );
}

// capability-binary-content.yml: `outputRawFormat: binary` returns the bytes, mappings skipped.
#[test]
fn binary_output_returns_bytes_with_media_type() {
    let def = definition(
        json!({"adapter": "mcp", "name": "photo", "operation": {"call": "media.photo",
        "outputParameters": [{"type": "string", "mapping": "$.x"}]},
        "consumes": {"media": {"photo": {"method": "GET", "outputRawFormat": "binary", "outputMediaType": "image/png"}}}}),
    );
    let mut env = Fake::default().raw(
        "media.photo",
        200,
        "application/octet-stream",
        &[0x89, 0x50, 0x4e, 0x47],
    );
    let out = go(&def, &[], &mut env).unwrap();
    assert_eq!(
        out,
        Output {
            status: 200,
            content_type: "image/png".into(),
            body: vec![0x89, 0x50, 0x4e, 0x47],
            binary: true
        }
    );
    assert!(env.conversions.is_empty());
}

#[test]
fn tool_upstream_error_without_body() {
    let def = definition(
        json!({"adapter": "mcp", "name": "t", "operation": {"call": "registry.list-crew"}, "consumes": registry_consumes()}),
    );
    let mut env = Fake::default().raw("registry.list-crew", 404, "text/plain", b"");
    let out = go(&def, &[], &mut env).unwrap();
    assert_eq!(
        (out.status, String::from_utf8(out.body).unwrap()),
        (
            404,
            "No response entity received (HTTP 404 Not Found)".to_string()
        )
    );
}

/// A script step's context: inputs, each earlier step's output, then its `with`
/// (templates rendered against what came before); its result is stored under its name
/// for later steps and the output mapping (upstream `ScriptStepExecutor.buildBindings`
/// and `OperationStepExecutor`).
#[test]
fn a_script_step_sees_inputs_step_outputs_and_with_and_its_result_is_mapped() {
    let def = definition(json!({
        "adapter": "rest", "name": "s",
        "operation": {
            "inputParameters": [{"name": "min", "in": "query"}],
            "steps": [
                {"type": "call", "name": "list", "call": "shop.items"},
                {"type": "script", "name": "low", "language": "javascript",
                 "sources": ["function f() {}", "result = 1;"],
                 "with": {"threshold": "{{min}}", "fixed": 3}},
                {"type": "script", "name": "nothing", "language": "javascript",
                 "sources": ["var x = 1;"]}
            ],
            "mappings": [{"target": "low", "value": "$.low"}]
        },
        "consumes": {"shop": {"items": {"method": "GET"}}}
    }));
    let mut env = Fake::default().with("shop.items", 200, json!([{"n": "a", "stock": 1}]));
    env.script_results
        .insert("low".into(), Ok(Some(json!([{"n": "a"}]))));
    let out = go(&def, &[("min", "5")], &mut env).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&out.body).unwrap(),
        json!({"low": [{"n": "a"}]})
    );
    let (step, language, sources, context) = &env.scripts[0];
    assert_eq!((step.as_str(), language.as_str()), ("low", "javascript"));
    assert_eq!(sources, &["function f() {}", "result = 1;"]);
    assert_eq!(context["min"], json!("5"));
    assert_eq!(context["list"], json!([{"n": "a", "stock": 1}]));
    assert_eq!(context["threshold"], json!("5"));
    assert_eq!(context["fixed"], json!(3));
    // The second script sees the first one's result; it assigned none, so nothing is
    // stored under its name.
    assert_eq!(env.scripts[1].3["low"], json!([{"n": "a"}]));
    assert!(env.scripts[1].3.get("nothing").is_none());
    assert_eq!(
        env.steps,
        vec![
            ("list".to_string(), "call".to_string(), true),
            ("low".to_string(), "script".to_string(), true),
            ("nothing".to_string(), "script".to_string(), true),
        ]
    );
}

#[test]
fn a_failing_script_step_fails_the_request_and_stops_the_steps() {
    let def = definition(json!({
        "adapter": "rest", "name": "s",
        "operation": {"steps": [
            {"type": "script", "name": "boom", "language": "javascript", "sources": ["throw 1"]},
            {"type": "call", "name": "after", "call": "shop.items"}
        ]},
        "consumes": {"shop": {"items": {"method": "GET"}}}
    }));
    let mut env = Fake::default();
    env.script_results.insert(
        "boom".into(),
        Err(FlowError::Internal("Script step 'boom' failed: 1".into())),
    );
    assert_eq!(
        go(&def, &[], &mut env),
        Err(FlowError::Internal("Script step 'boom' failed: 1".into()))
    );
    assert!(env.calls.is_empty());
    assert_eq!(
        env.steps,
        vec![("boom".to_string(), "script".to_string(), false)]
    );
}

// Hostile input: deep nesting is refused with a clear error, garbage never panics, a
// lookup of many values over a large index stays linear.
#[test]
fn hostile_inputs() {
    let mut deep = json!({"type": "string", "mapping": "$.x"});
    for _ in 0..50 {
        deep = json!({"type": "object", "properties": {"p": deep}});
    }
    let text =
        json!({"adapter": "rest", "name": "deep", "operation": {"outputParameters": [deep]}})
            .to_string();
    match Definition::parse(&text) {
        Err(FlowError::Internal(m)) => assert!(m.contains("nest deeper"), "{m}"),
        other => panic!("expected a depth error, got {other:?}"),
    }
    for garbage in [
        "",
        "[]",
        "null",
        "{\"operation\": 5}",
        "{\"operation\": {\"steps\": 5}}",
        "{\"operation\": {\"outputParameters\": {\"a\": 1}}}",
        "{\"adapter\": \"x\"}",
        "{\"operation\": {\"call\": [1]}}",
        "{\"operation\": {\"mappings\": [1, null]}}",
    ] {
        if let Ok(def) = Definition::parse(garbage) {
            let _ = go(&def, &[("a", "{{a}}")], &mut Fake::default());
        }
    }
    let n = 50_000;
    let index: Vec<Value> = (0..n)
        .map(|i| json!({"k": format!("K{i}"), "v": i}))
        .collect();
    let wanted: Vec<Value> = (0..n).map(|i| json!(format!("K{i}"))).collect();
    let started = std::time::Instant::now();
    let found =
        crate::lookup::lookup_many(&Value::Array(index), "k", &wanted, Some(&["v".to_string()]));
    assert_eq!(found.len(), n);
    assert!(started.elapsed().as_secs() < 5);
}

// formUrlEncoded / multipartForm bodies are built by the host: the engine hands over
// the values their templates use ("" when absent), never a rendered body.
#[test]
fn form_bodies_hand_template_values_to_the_host() {
    let def = definition(json!({
        "adapter": "rest", "name": "token", "namespace": "api",
        "operation": {"method": "POST", "call": "idp.token",
            "with": {"scope": "read {{who}}"}},
        "consumes": {"idp": {"token": {
            "method": "POST",
            "inputParameters": [{"name": "REGION", "in": "environment"}],
            "body": {"type": "formUrlEncoded", "data": {
                "grant_type": "client_credentials",
                "scope": "{{scope}}",
                "secret": "{{creds.SECRET}}",
                "missing": "{{{nothing}}}"
            }}}}}
    }));
    let mut env = Fake::default().with("idp.token", 200, json!({"ok": true}));
    let out = go(&def, &[("who", "ada"), ("REGION", "x")], &mut env).unwrap();
    assert_eq!(out.status, 200);
    let (reference, params, body) = &env.calls[0];
    assert_eq!(reference, "idp.token");
    assert!(
        params.is_empty(),
        "environment parameters are the host's: {params:?}"
    );
    let body: Value = serde_json::from_str(body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"scope": "read ada", "creds.SECRET": "", "nothing": ""})
    );
}

// maxBinarySize (ResourceRestlet.sendBinaryResponse, ToolHandler.buildBinaryToolResult,
// ResourceHandler.readBinaryDynamic): the operation's cap wins over the adapter's.
#[test]
fn binary_answers_over_max_binary_size() {
    let consumes = |op_max: Option<u64>| {
        let mut op = json!({"method": "GET", "outputRawFormat": "binary"});
        if let Some(m) = op_max {
            op["maxBinaryBytes"] = json!(m);
        }
        json!({"media": {"photo": op}})
    };
    let bytes = [7u8; 5];
    let run_one = |def: Value| {
        let mut env = Fake::default().raw("media.photo", 200, "image/png", &bytes);
        go(&definition(def), &[], &mut env)
    };
    // REST, adapter cap 4: 500 text/plain.
    let out = run_one(json!({"adapter": "rest", "name": "p", "maxBinaryBytes": 4,
        "operation": {"method": "GET", "call": "media.photo"}, "consumes": consumes(None)}))
    .unwrap();
    assert_eq!(
        (
            out.status,
            out.content_type.as_str(),
            String::from_utf8(out.body).unwrap()
        ),
        (
            500,
            "text/plain",
            "Upstream response exceeded maxBinarySize (limit=4 bytes)".to_string()
        )
    );
    // REST, the operation allows 5 although the adapter allows 4.
    let out = run_one(json!({"adapter": "rest", "name": "p", "maxBinaryBytes": 4,
        "operation": {"method": "GET", "call": "media.photo"}, "consumes": consumes(Some(5))}))
    .unwrap();
    assert_eq!((out.status, out.binary, out.body.len()), (200, true, 5));
    // MCP tool, operation cap 3: an error result.
    let out = run_one(json!({"adapter": "mcp", "name": "p",
        "operation": {"call": "media.photo"}, "consumes": consumes(Some(3))}))
    .unwrap();
    assert_eq!(
        (out.status, String::from_utf8(out.body).unwrap()),
        (
            500,
            "Upstream response exceeded maxBinarySize (limit=3 bytes)".to_string()
        )
    );
    // MCP resource: the read fails.
    let err = run_one(
        json!({"adapter": "mcp-resource", "name": "p", "maxBinaryBytes": 2,
        "operation": {"call": "media.photo"}, "consumes": consumes(None)}),
    )
    .unwrap_err();
    assert_eq!(
        err,
        FlowError::Internal(
            "Binary response of 5 bytes exceeds the maxBinarySize cap of 2 bytes".into()
        )
    );
    // Default 10 MiB when nothing is declared.
    let out = run_one(json!({"adapter": "rest", "name": "p",
        "operation": {"method": "GET", "call": "media.photo"}, "consumes": consumes(None)}))
    .unwrap();
    assert_eq!((out.status, out.binary), (200, true));
}
