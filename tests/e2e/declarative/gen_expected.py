#!/usr/bin/env python3
"""Writes expected/*.json from shipyard-data.json by applying upstream Ikanos's output
semantics by hand (one helper per upstream method; each cites it). Run it again after
changing the data: `python3 tests/e2e/declarative/gen_expected.py`.

Upstream: naftiko/ikanos 32360e1b, modules/ikanos-engine/src/main/java/io/ikanos/engine/.
"""
import json, os, copy

HERE = os.path.dirname(os.path.abspath(__file__))
D = json.load(open(os.path.join(HERE, "shipyard-data.json")))
REG = D["registryPrefix"]
LEG = D["legacyPrefix"]
S = D["secrets"]

# ---- upstream semantics -------------------------------------------------------------

def ship_summary(s):
    # Resolver.resolveOutputMappings, array items of type object: each property is
    # Converter.jsonPathExtract(element, mapping).
    return {"imo": s["imo_number"], "name": s["vessel_name"], "type": s["vessel_type"],
            "flag": s["flag_code"], "status": s["operational_status"]}

def ship_object(d, specs):
    out = ship_summary(d)
    if specs:
        # nested object without `mapping` recurses with the same root (Resolver.java
        # object branch: propMapping == null && type object && properties).
        out["specs"] = {"yearBuilt": d["year_built"], "tonnage": d["gross_tonnage"],
                        "length": d["dimensions"]["length_overall"]}
    return out

def ships(status=None):
    # Microcks FALLBACK/URI_PARAMS dispatcher on `status`, fallback allShips.
    if status in ("active", "maintenance"):
        return [s for s in D["ships"] if s["operational_status"] == status]
    return D["ships"]

def vessel_out(v):
    return {"vesselCode": v["vesselCode"], "name": v["vesselName"], "type": v["category"],
            "flag": v["flagState"], "status": v["operationalStatus"]}

def lookup(index, match, values, fields):
    # LookupExecutor.executeLookup / OperationStepExecutor lookup branch: an array
    # lookupValue collects one match per item (missing ones skipped); fields absent in
    # the match become null (extractFields).
    single = not isinstance(values, list)
    out = []
    for v in ([values] if single else values):
        for e in index:
            if str(e.get(match)) == v:
                out.append({f: e.get(f) for f in fields})
                break
    if single:
        return out[0] if out else None
    return out or None

def ship_with_crew(imo):
    # steps get-ship, list-crew, lookup resolve-crew, then resolveStepMappings.
    g = D["shipDetails"][imo]
    return {"imo": g["imo_number"], "name": g["vessel_name"], "type": g["vessel_type"],
            "flag": g["flag_code"], "status": g["operational_status"],
            "yearBuilt": g["year_built"], "tonnage": g["gross_tonnage"],
            "length": g["dimensions"]["length_overall"],
            "crew": lookup(D["crew"], "crewId", g["assignedCrew"], ["fullName", "role"])}

def created_voyage(body):
    # Microcks example `created`: templated from the request body, crewIds/cargoIds fixed.
    v = {"voyageId": D["voyageCreated"]["voyageId"], "shipImo": body["shipImo"],
         "departurePort": body["departurePort"], "arrivalPort": body["arrivalPort"],
         "departureDate": body["departureDate"], "arrivalDate": body["arrivalDate"],
         "crewIds": D["voyageCreated"]["crewIds"], "cargoIds": D["voyageCreated"]["cargoIds"],
         "status": D["voyageCreated"]["status"]}
    return v

def voyage_out(v):
    return {"voyageId": v["voyageId"], "shipImo": v["shipImo"],
            "route": {"from": v["departurePort"], "to": v["arrivalPort"]},
            "dates": {"departure": v["departureDate"], "arrival": v["arrivalDate"]},
            "crewIds": v["crewIds"], "cargoIds": v["cargoIds"], "status": v["status"]}

def manifest(vid, nested):
    v = D["voyages"][vid]
    # list-ships in step11-registry-consumes declares outputParameters
    # {imo-number: {value: "$.imo_number"}}: the map form injects `name`, so the `$` value
    # becomes a mapping (OutputParameterDeserializer) and resolveStepOutput augments each
    # element of the array with imo-number. The lookup matches on it.
    listed = [dict(s, **{"imo-number": s["imo_number"]}) for s in ships()]
    ship = lookup(listed, "imo-number", v["shipImo"], ["vessel_name", "vessel_type", "flag_code"])
    crew = lookup(D["crew"], "crewId", v["crewIds"], ["fullName", "role"])
    cargo = lookup(D["cargo"], "cargoId", v["cargoIds"], ["type", "description", "weight", "hazardous"])
    if nested:
        return {"voyageId": v["voyageId"], "status": v["status"],
                "route": {"from": v["departurePort"], "to": v["arrivalPort"]},
                "ship": {"name": ship["vessel_name"], "type": ship["vessel_type"], "flag": ship["flag_code"]},
                "crew": crew, "cargo": cargo}
    return {"voyageId": v["voyageId"], "status": v["status"],
            "departurePort": v["departurePort"], "arrivalPort": v["arrivalPort"],
            "shipName": ship["vessel_name"], "shipType": ship["vessel_type"], "shipFlag": ship["flag_code"],
            "crew": crew, "cargo": cargo}

# ---- requests upstream sends ----------------------------------------------------------

def up(method, path, query=None, headers=None, json_body=None):
    r = {"method": method, "path": path, "query": query, "headers": headers or {}}
    if json_body is not None:
        r["jsonBody"] = json_body
    return r

def reg_headers(token):
    h = {"authorization": f"Bearer {token}"} if token else {}
    if token == "REGISTRY_TOKEN":
        # step11-registry-consumes.yml: `value: "REGISTRY_VERSION"` has no braces, so upstream
        # and any reading agree on the literal. (Elsewhere the header is `{{REGISTRY_VERSION}}`,
        # which upstream sends unrendered: see NOTES.md; not asserted.)
        h["registry-version"] = "REGISTRY_VERSION"
    return h

LEG_H = {"x-dock-key": S["dockyard-api-key"]}
VOYAGE_BODY = {"shipImo": "IMO-9321483", "departurePort": "Oslo", "arrivalPort": "Singapore",
               "departureDate": "2026-04-10T08:00:00Z", "arrivalDate": "2026-05-02T14:00:00Z",
               "crewIds": ["CREW-001", "CREW-003"], "cargoIds": ["CARGO-2024-0451"]}

# ---- entries -----------------------------------------------------------------------------

def mcp(ns, name, case, args, body, upstream, why=None, kind="json", is_error=False):
    e = {"adapter": "mcp", "namespace": ns, "name": name, "case": case,
         "request": {"arguments": args},
         "expected": {"isError": is_error, "bodyKind": kind, "body": body},
         "upstream": upstream}
    if why: e["why"] = why
    return e

def rest(ns, name, case, method, path, body, upstream, query=None, req_body=None, status=200,
         why=None, kind="json", headers=None, content_type=None):
    e = {"adapter": "rest", "namespace": ns, "name": name, "case": case,
         "request": {"method": method, "path": path, "query": query or {}, "headers": headers or {},
                     "body": req_body},
         "expected": {"status": status, "bodyKind": kind, "body": body},
         "upstream": upstream}
    if content_type: e["expected"]["contentType"] = content_type
    if why: e["why"] = why
    return e

WHY_LIST_EMPTY_STATUS = ("`with: status: <ns>.status` is a namespace-qualified reference: absent "
    "from the arguments, it is not put (ToolHandler.resolveWithValue / "
    "OperationStepExecutor.mergeWithParameters), so Resolver.resolveInputParametersToRequest "
    "adds no query parameter.")
WHY_SPECS = ("`specs` has no mapping of its own: Resolver.resolveOutputMappings recurses with "
    "the same root; numbers keep their JSON type (JacksonJsonNodeJsonProvider).")
WHY_CREW = ("steps: get-ship and list-crew are call steps whose raw JSON is stored "
    "(OperationStepExecutor.executeSteps); resolve-crew's lookupValue "
    "$.get-ship.assignedCrew is an array, so one LookupExecutor match per id, each holding "
    "only fullName and role; resolveStepMappings builds the object from `mappings`. The "
    "declared outputParameters are not applied when mappings resolve.")
WHY_VOYAGE = ("The consumed body template renders arrays as JSON (Resolver.resolveMustacheTemplate "
    "JSON-serialises collections, escapeHTML false). The upstream answers 201, which the REST "
    "adapter passes on (response.setStatus(found.clientResponse.getStatus())); MCP: < 400 is "
    "not an error (ToolHandler.buildToolResult). crewIds/cargoIds properties have a mapping, "
    "so the extracted array is used as is.")
WHY_XML = ("outputRawFormat: xml: Converter.convertXmlToJson (Jackson XmlMapper.readTree) gives "
    "{\"vessel\": [...]} for two <vessel> elements; `$.vessel` is that array.")
WHY_XML_SINGLE_MCP = ("With one <vessel> (status=active) XmlMapper gives {\"vessel\": {...}}: "
    "`$.vessel` is an object, the array mapping yields NullNode "
    "(Resolver.resolveOutputMappings: !arrayRoot.isArray()), applyOutputMappings returns null "
    "and ToolHandler.buildToolResult falls back to the raw response text: the XML itself.")

def list_ships_cases(adapter, ns, token, path="/ships"):
    out = []
    for status, case in ((None, "no filter"), ("active", "status=active"), ("maintenance", "status=maintenance")):
        body = [ship_summary(s) for s in ships(status)]
        q = {"status": status} if status else None
        upstream = [up("GET", REG + "/ships", q, reg_headers(token))]
        why = WHY_LIST_EMPTY_STATUS if status is None else None
        if adapter == "mcp":
            out.append(mcp(ns, "list-ships", case, {"status": status} if status else {}, body, upstream, why))
        else:
            out.append(rest(ns, "list-ships", case, "GET", path, body, upstream, query=q, why=why))
    return out

def get_ship_cases(adapter, ns, token, specs, arg="imo", path="/ships/{}"):
    out = []
    for imo in ("IMO-9321483", "IMO-9456781"):
        body = ship_object(D["shipDetails"][imo], specs)
        upstream = [up("GET", f"{REG}/ships/{imo}", None, reg_headers(token))]
        why = WHY_SPECS if specs else None
        if adapter == "mcp":
            out.append(mcp(ns, "get-ship", imo, {arg: imo}, body, upstream, why))
        else:
            out.append(rest(ns, "get-ship", imo, "GET", path.format(imo), body, upstream, why=why))
    return out

def legacy_cases(adapter, ns, root_mapping_dollar=False):
    out = []
    body = [vessel_out(v) for v in D["legacyVesselsAsJson"]["all"]["vessel"]]
    upstream = [up("GET", LEG + "/vessels", None, LEG_H)]
    if adapter == "mcp":
        out.append(mcp(ns, "list-legacy-vessels", "no filter", {}, body, upstream, WHY_XML))
        out.append(mcp(ns, "list-legacy-vessels", "status=active (one vessel)", {"status": "active"},
                       D["legacyVesselsXml"]["active"], [up("GET", LEG + "/vessels", {"status": "active"}, LEG_H)],
                       WHY_XML_SINGLE_MCP, kind="text"))
    elif root_mapping_dollar:
        out.append(rest(ns, "list-legacy-vessels", "no filter (mapping \"$.\" on an object)", "GET", "/legacy/vessels",
                        None, upstream, kind="unknown",
                        why=("step 7's REST operation maps the array from \"$.\" but the converted root is the "
                             "object {\"vessel\": [...]}: Resolver.resolveOutputMappings yields NullNode, "
                             "ResourceRestlet.mapOutputParameters returns null and sendResponse sets the raw "
                             "upstream entity, already read once by Converter.convertToJson. Status 200 "
                             "(upstream's); the body is not determinable from the source (see NOTES.md), so only "
                             "the status is asserted.")))
    else:
        out.append(rest(ns, "list-legacy-vessels", "no filter", "GET", "/legacy/vessels", body, upstream, why=WHY_XML))
    return out

def voyage_case(adapter, ns, token):
    body = voyage_out(created_voyage(VOYAGE_BODY))
    upstream = [up("POST", REG + "/voyages", None, reg_headers(token), json_body=VOYAGE_BODY)]
    if adapter == "mcp":
        return [mcp(ns, "create-voyage", "Oslo to Singapore", VOYAGE_BODY, body, upstream, WHY_VOYAGE)]
    return [rest(ns, "create-voyage", "Oslo to Singapore", "POST", "/voyages", body, upstream,
                 req_body=VOYAGE_BODY, status=201, why=WHY_VOYAGE,
                 headers={"content-type": "application/json"})]

def crew_case(adapter, ns, token, why_extra="", path="/ships/{}/crew"):
    out = []
    for imo in ("IMO-9321483", "IMO-9456781"):
        body = ship_with_crew(imo)
        upstream = [up("GET", f"{REG}/ships/{imo}", None, reg_headers(token)),
                    up("GET", REG + "/crew", None, reg_headers(token))]
        why = WHY_CREW + why_extra
        if adapter == "mcp":
            out.append(mcp(ns, "get-ship-with-crew", imo, {"imo": imo}, body, upstream, why))
        else:
            out.append(rest(ns, "get-ship-with-crew", imo, "GET", path.format(imo), body, upstream, why=why))
    return out

def manifest_case(adapter, ns, token):
    vid = "VOY-2026-042"
    upstream = [up("GET", f"{REG}/voyages/{vid}", None, reg_headers(token)),
                up("GET", REG + "/ships", None, reg_headers(token)),
                up("GET", REG + "/crew", None, reg_headers(token)),
                up("GET", REG + "/cargo", None, reg_headers(token))]
    why = ("Seven steps: three lookups against list-ships (matched on imo-number, a consumed "
           "outputParameter projected onto each element by OperationStepExecutor.resolveStepOutput), "
           "list-crew and list-cargo; a scalar lookupValue gives one object, an array gives an array. "
           "Dotted targets (route.from) nest (OperationStepExecutor.setNestedField). list-ships gets no "
           "status: it is not among the runtime parameters.")
    if adapter == "mcp":
        return [mcp(ns, "get-voyage-manifest", vid, {"voyageId": vid}, manifest(vid, True), upstream, why)]
    return [rest(ns, "get-voyage-manifest", vid, "GET", f"/voyages/{vid}/manifest", manifest(vid, False), upstream, why=why)]

REF_WHY = (" Here through `ref: crew-resolver.resolve-crew-for-ship`: AggregateFlow.doExecute runs "
           "the flow's steps and mappings with the caller's parameters; the tool/operation returns "
           "FlowResult.mappedOutput (ToolHandler/ResourceRestlet.executeViaAggregate).")

files = {}

files["step-1-shipyard-mock"] = {
    "sample": "step-1-shipyard-mock.yml", "test": "step_1_shipyard_mock",
    "mcpBearer": None, "registryBearer": None,
    "entries": [mcp("shipyard-tools", "get-ship", "IMO-9321483", {"imo_number": "IMO-9321483"},
                    {"imo": "IMO-9321483", "name": "Northern Star", "type": "cargo", "flag": "NO", "status": "active"},
                    [], "No call and no steps: ToolHandler.buildMockToolResult -> Resolver.buildMockData; each "
                    "`value` is a Mustache template rendered against the arguments ({{imo_number}}). Values are "
                    "strings. Upstream's Step1ShipyardMcpClientIntegrationTest asserts these five values.")]}

files["step-2-shipyard-wiring"] = {
    "sample": "step-2-shipyard-wiring.yml", "test": "step_2_shipyard_wiring",
    "mcpBearer": None, "registryBearer": None,
    "entries": list_ships_cases("mcp", "shipyard-tools", None) + get_ship_cases("mcp", "shipyard-tools", None, False)}

files["step-3-shipyard-auth"] = {
    "sample": "step-3-shipyard-auth.yml", "test": "step_3_shipyard_auth",
    "mcpBearer": S["mcp-server-token"], "registryBearer": S["registry-bearer-token"],
    "entries": list_ships_cases("mcp", "shipyard-tools", S["registry-bearer-token"])
               + get_ship_cases("mcp", "shipyard-tools", S["registry-bearer-token"], False)}

files["step-4-shipyard-output-shaping"] = {
    "sample": "step-4-shipyard-output-shaping.yml", "test": "step_4_shipyard_output_shaping",
    "mcpBearer": S["mcp-server-token"], "registryBearer": S["registry-bearer-token"],
    "entries": list_ships_cases("mcp", "shipyard-tools", S["registry-bearer-token"])
               + get_ship_cases("mcp", "shipyard-tools", S["registry-bearer-token"], True)}

T = S["registry-bearer-token"]
def shipyard_file(sample, test, ref, rest_ns, rest_step7=False, manifest_too=False, token=T):
    extra = REF_WHY if ref else ""
    e = []
    e += list_ships_cases("mcp", "shipyard-tools", token)
    e += get_ship_cases("mcp", "shipyard-tools", token, True)
    e += legacy_cases("mcp", "shipyard-tools")
    e += voyage_case("mcp", "shipyard-tools", token)
    e += crew_case("mcp", "shipyard-tools", token, extra)
    if manifest_too:
        e += manifest_case("mcp", "shipyard-tools", token)
    if rest_ns:
        e += list_ships_cases("rest", rest_ns, token)
        e += get_ship_cases("rest", rest_ns, token, True)
        e += crew_case("rest", rest_ns, token, extra)
        e += legacy_cases("rest", rest_ns, root_mapping_dollar=rest_step7)
        e += voyage_case("rest", rest_ns, token)
        if manifest_too:
            e += manifest_case("rest", rest_ns, token)
    return {"sample": sample, "test": test, "mcpBearer": S["mcp-server-token"], "registryBearer": token,
            "dockKey": S["dockyard-api-key"], "entries": e}

files["step-7-shipyard-orchestrated-lookup"] = shipyard_file(
    "step-7-shipyard-orchestrated-lookup.yml", "step_7_shipyard_orchestrated_lookup", False, "shipyard-api", rest_step7=True)
files["step-9-shipyard-aggregates"] = shipyard_file(
    "step-9-shipyard-aggregates.yml", "step_9_shipyard_aggregates", True, None)
files["step-10-shipyard-rest-adapter"] = shipyard_file(
    "step-10-shipyard-rest-adapter.yml", "step_10_shipyard_rest_adapter", True, "shipyard-api")
files["step-11-shipyard-fleet-manifest"] = shipyard_file(
    "step-11-shipyard-fleet-manifest.yml", "step_11_shipyard_fleet_manifest", False, "shipyard-api",
    manifest_too=True, token="REGISTRY_TOKEN")
files["step-11-shipyard-fleet-manifest"]["why"] = (
    "shared/step11-registry-consumes.yml writes `token: \"REGISTRY_TOKEN\"` without braces, so upstream "
    "sends the literal `Authorization: Bearer REGISTRY_TOKEN` (HttpClientAdapter.setChallengeResponse "
    "renders the string as a Mustache template; there is nothing to substitute).")

# e2e-exposed-oauth2: two MCP adapters over the same registry.
oauth = []
oauth += list_ships_cases("mcp", "shipyard-tools", T)
oauth += get_ship_cases("mcp", "shipyard-tools", T, False)
for status, case in ((None, "no filter"), ("active", "status=active")):
    body = [{"imo": s["imo_number"], "name": s["vessel_name"], "status": s["operational_status"]} for s in ships(status)]
    q = {"status": status} if status else None
    oauth.append(mcp("shipyard-tools-bearer", "list-ships", case, {"status": status} if status else {}, body,
                     [up("GET", REG + "/ships", q, reg_headers(T))]))
files["e2e-exposed-oauth2-capability"] = {
    "sample": "e2e-exposed-oauth2-capability.yml", "test": "e2e_exposed_oauth2",
    "mcpBearer": S["mcp-server-token"], "registryBearer": T,
    "oauth2": {"namespace": "shipyard-tools", "issuerPath": "/realms/e2e-test", "audience": "http://ikanos-e2e",
               "why": "OAuth2AuthenticationRestlet: jwks discovered from <authorizationServerUri>/.well-known/oauth-authorization-server; iss must equal authorizationServerUri, aud must contain `resource`."},
    "entries": oauth}

mq = [{"id": r["id"]} for r in D["mockApiQuery"]["results"]]
MQ_UP = [up("POST", "/v1databases/test-db-id-123/query", None, {}, json_body=D["mockApiFilter"])]
MQ_WHY = ("The tool has no inputParameters; `with: datasource_id: test-db-id-123` is a plain value "
          "(mergeWithParameters renders it as a template). Upstream builds the URL as baseUri + path with "
          "no separator (OperationStepExecutor.findClientRequestFor), i.e. /v1databases/...; the shipyard "
          "also serves /v1/databases/... and the test accepts either (see NOTES.md). Response data is "
          "this fixture's own (upstream has no mock for this API).")
files["mcp-resources-prompts-capability"] = {
    "sample": "mcp-resources-prompts-capability.yaml", "test": "mcp_resources_prompts",
    "mcpBearer": None, "registryBearer": None,
    "entries": [mcp("test-mcp-resources-prompts", "query-database", "committed participants", {}, mq, MQ_UP, MQ_WHY)]}
ms = [{"name": r["properties"]["Name"]["title"][0]["text"]["content"], "status": r["properties"]["Status"]["select"]["name"]}
      for r in D["mockApiQuery"]["results"]]
files["mcp-stdio-capability"] = {
    "sample": "mcp-stdio-capability.yaml", "test": "mcp_stdio",
    "mcpBearer": None, "registryBearer": None, "transport": "stdio",
    "entries": [mcp("test-mcp-stdio", "query-database", "committed participants", {}, ms, MQ_UP,
                    MQ_WHY + " JSONPath with an index: $.properties.Name.title[0].text.content.")]}

files["serve-http.ikanos"] = {
    "sample": "serve-http.ikanos.yaml", "test": "serve_http",
    "mcpBearer": None, "registryBearer": None,
    "entries": [rest("ping-rest", "get-ping", "ping", "GET", "/ping", D["ping"],
                     [up("GET", "/v1ping", None, {})],
                     why=("No outputParameters: ResourceRestlet.sendResponse passes the upstream entity and "
                          "status through. URL is baseUri + path with no separator (/v1ping); the test accepts "
                          "/v1/ping too (see NOTES.md)."))]}

import base64 as b64
photo = D["photoBase64"]
PH_UP = [up("GET", "/photos/{id}/binary", None, {})]
PH_WHY = ("ref photos.get-photo: the flow is a simple call with no outputParameters, so "
          "FlowResult.lastContext is used. The consumed operation declares outputRawFormat: binary and "
          "outputMediaType image/jpeg: bytes are buffered (HandlingContext.readBoundedBytes) and returned "
          "unchanged with Content-Type image/jpeg (ResourceRestlet.sendBinaryResponse: a declared "
          "outputMediaType wins). The consumed path `/photos/{id}/binary` uses single braces, which "
          "Resolver.resolveMustacheTemplate does not substitute: upstream requests the literal "
          "`{id}` segment. The shipyard serves the same bytes for any id.")
files["capability-binary-content"] = {
    "sample": "capability-binary-content.yml", "test": "capability_binary_content",
    "mcpBearer": None, "registryBearer": None,
    "entries": [
        rest("photos-api", "get-photo-image", "photo 42", "GET", "/photos/42/image", photo, PH_UP,
             kind="base64", content_type="image/jpeg", why=PH_WHY),
        rest("photos-api", "get-photo-thumbnail", "photo 42", "GET", "/photos/42/thumbnail", photo, PH_UP,
             kind="base64", content_type="image/jpeg", why=PH_WHY + " `responseBinary` only documents the contract."),
        mcp("photos-mcp", "get-photo", "photo 42", {"id": "42"},
            [{"type": "image", "data": photo, "mimeType": "image/jpeg"}], PH_UP,
            ("ToolHandler.executeViaAggregate -> buildToolResult -> buildBinaryToolResult: an image/* media "
             "type gives one ImageContent {type: image, data: base64, mimeType}. `bodyKind: content` "
             "compares result.content as a whole."), kind="content"),
    ]}

files["register.capability"] = {
    "sample": "register.capability.yml", "test": "register_forward",
    "mcpBearer": None, "registryBearer": None, "basic": ["scott", "tiger"],
    "entries": [rest("documentation", "notion", "GET users/me through the forward", "GET", "/notion/users/me",
                     D["notionMe"],
                     [up("GET", "/rest/Notion+API/1.0.0/users/me", None,
                         {"authorization": "Basic " + b64.b64encode(b"scott:tiger").decode(),
                          "notion-version": "2022-06-28", "x-not-trusted": None})],
                     headers={"Notion-Version": "2022-06-28", "X-Not-Trusted": "dropped"},
                     why=("A `forward` resource (counted as one operation): ResourceRestlet.handleFromForwardSpec "
                          "sends the same method to baseUri + '/' + {path} (a TYPE_URI_PATH variable, several "
                          "segments), copies only trustedHeaders (Notion-Version), adds the consumes' basic auth, "
                          "and returns the upstream status and entity. X-Not-Trusted must not reach the upstream."))]}
files["register.capability"]["entries"][0]["countsTowards53"] = False

os.makedirs(os.path.join(HERE, "expected"), exist_ok=True)
total_ops = set()
for name, f in files.items():
    for e in f["entries"]:
        total_ops.add((f["sample"], e["adapter"], e["namespace"], e["name"]))
    with open(os.path.join(HERE, "expected", name + ".json"), "w", encoding="utf-8") as fh:
        json.dump(f, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
print("files:", len(files), "operations/tools:", len(total_ops))
