//! Discovery and OpenAPI documents: what kubectl reads before it makes a request.

use super::body::Body;
use super::json_response;
use super::store::RESOURCES;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

/// Serves `/version`, `/api`, `/apis`, group and resource lists and OpenAPI, or `None`.
pub(crate) fn serve<B>(segs: &[&str], _req: &Request<B>) -> Option<Response<Body>> {
    let v = match segs {
        ["version"] => json!({
            "major": "1", "minor": "32", "gitVersion": "v1.32.0-hoop-harness", "gitCommit": "0000000",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0",
            "compiler": "gc", "platform": "linux/amd64"
        }),
        ["api"] => json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]
        }),
        ["apis"] => json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups().map(group).collect::<Vec<_>>()}),
        ["apis", g] if groups().any(|k| k == *g) => {
            let mut v = group(g);
            v["kind"] = json!("APIGroup");
            v["apiVersion"] = json!("v1");
            v
        }
        ["api", "v1"] => resource_list("", "v1"),
        ["apis", g, v] if *v == "v1" && groups().any(|k| k == *g) => resource_list(g, "v1"),
        ["openapi", "v2"] => json!({
            "swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": {}, "definitions": {}
        }),
        ["openapi", "v3"] => {
            let mut paths = serde_json::Map::new();
            paths.insert("api/v1".into(), json!({"serverRelativeURL": "/openapi/v3/api/v1?hash=1"}));
            for g in groups() {
                paths.insert(format!("apis/{g}/v1"), json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/v1?hash=1")}));
            }
            json!({"paths": paths})
        }
        ["openapi", "v3", "api", "v1"] => openapi_v3("", "v1"),
        ["openapi", "v3", "apis", g, v] if *v == "v1" && groups().any(|k| k == *g) => openapi_v3(g, "v1"),
        _ => return None,
    };
    Some(json_response(StatusCode::OK, v))
}

/// The API groups of the served resources (the core group aside), each once.
fn groups() -> impl Iterator<Item = &'static str> {
    RESOURCES.iter().enumerate().filter(|(i, r)| !r.group.is_empty() && RESOURCES[..*i].iter().all(|o| o.group != r.group)).map(|(_, r)| r.group)
}

fn group(name: &str) -> Value {
    let gv = format!("{name}/v1");
    json!({"name": name, "versions": [{"groupVersion": gv, "version": "v1"}], "preferredVersion": {"groupVersion": gv, "version": "v1"}})
}

fn resource_list(group: &str, version: &str) -> Value {
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    let mut resources = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == group && r.version == version) {
        resources.push(json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": r.short,
        }));
        if r.plural == "pods" {
            resources.push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
            resources.push(json!({"name": "pods/exec", "singularName": "", "namespaced": true, "kind": "PodExecOptions", "verbs": ["create", "get"]}));
            resources.push(json!({"name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get", "patch", "update"]}));
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

/// An OpenAPI v3 document listing each resource's operations; PATCH and POST declare
/// `fieldValidation`, which tells kubectl to let the server validate fields.
fn openapi_v3(group: &str, version: &str) -> Value {
    let prefix = if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") };
    let field_validation = json!({"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    let mut paths = serde_json::Map::new();
    for r in RESOURCES.iter().filter(|r| r.group == group && r.version == version) {
        let gvk = json!([{"group": group, "version": version, "kind": r.kind}]);
        let coll = if r.namespaced { format!("{prefix}/namespaces/{{namespace}}/{}", r.plural) } else { format!("{prefix}/{}", r.plural) };
        let op = |verb: &str, params: Value| json!({"operationId": format!("{verb}{}", r.kind), "x-kubernetes-action": verb, "x-kubernetes-group-version-kind": gvk[0], "parameters": params, "responses": {"200": {"description": "OK"}}});
        paths.insert(coll.clone(), json!({"get": op("list", json!([])), "post": op("post", json!([field_validation]))}));
        paths.insert(
            format!("{coll}/{{name}}"),
            json!({"get": op("get", json!([])), "put": op("put", json!([field_validation])), "patch": op("patch", json!([field_validation])), "delete": op("delete", json!([]))}),
        );
    }
    json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths, "components": {"schemas": {}}})
}
