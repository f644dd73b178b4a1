//! `template.yaml` must declare exactly the tables and indexes the code creates
//! (shared/src/store/schema.rs), and route to each function exactly the paths its router
//! serves.

use serde_norway::Value;
use std::collections::BTreeSet;

use shared::store::schema::{self, Projection, TableDef};

fn template() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    serde_norway::from_str(&text).expect("template.yaml parses")
}

fn key_schema(keys: &Value) -> Vec<(String, String)> {
    keys.as_sequence()
        .unwrap()
        .iter()
        .map(|k| (k["AttributeName"].as_str().unwrap().into(), k["KeyType"].as_str().unwrap().into()))
        .collect()
}

fn check_table(template: &Value, def: &TableDef) {
    let resource = &template["Resources"][def.logical_id];
    assert_eq!(resource["Type"], "AWS::DynamoDB::Table", "{} is a table", def.logical_id);
    let props = &resource["Properties"];
    assert_eq!(props["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(key_schema(&props["KeySchema"]), [(def.hash_key.to_string(), "HASH".to_string())]);

    let declared: BTreeSet<(String, String)> = props["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| (a["AttributeName"].as_str().unwrap().into(), a["AttributeType"].as_str().unwrap().into()))
        .collect();
    let expected: BTreeSet<(String, String)> =
        def.key_attributes().into_iter().map(|a| (a.to_string(), "S".to_string())).collect();
    assert_eq!(declared, expected, "{} attribute definitions", def.logical_id);

    let indexes = props["GlobalSecondaryIndexes"].as_sequence().cloned().unwrap_or_default();
    assert_eq!(indexes.len(), def.indexes.len(), "{} index count", def.logical_id);
    for (declared, index) in indexes.iter().zip(def.indexes) {
        assert_eq!(declared["IndexName"], index.name);
        assert_eq!(
            key_schema(&declared["KeySchema"]),
            [
                (index.hash_key.to_string(), "HASH".to_string()),
                (index.range_key.to_string(), "RANGE".to_string())
            ],
            "{} keys",
            index.name
        );
        let projection = &declared["Projection"];
        match index.projection {
            Projection::All => assert_eq!(projection["ProjectionType"], "ALL"),
            Projection::KeysOnly => assert_eq!(projection["ProjectionType"], "KEYS_ONLY"),
            Projection::Include(fields) => {
                assert_eq!(projection["ProjectionType"], "INCLUDE");
                let attrs: Vec<&str> = projection["NonKeyAttributes"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert_eq!(attrs, fields, "{} projection", index.name);
            }
        }
    }
    match def.ttl_attribute {
        Some(attribute) => assert_eq!(props["TimeToLiveSpecification"]["AttributeName"], attribute),
        None => assert!(props.get("TimeToLiveSpecification").is_none()),
    }
    match def.stream {
        true => assert_eq!(
            props["StreamSpecification"]["StreamViewType"], "NEW_AND_OLD_IMAGES",
            "{}",
            def.logical_id
        ),
        false => assert!(props.get("StreamSpecification").is_none(), "{}", def.logical_id),
    }
}

#[test]
fn template_tables_match_the_code() {
    let template = template();
    for (def, _) in schema::tables(&shared::config::TableNames::with_prefix("any")) {
        check_table(&template, def);
    }
}

/// The template sends each path to the function whose router serves it, and every other path
/// (`$default`) to users, which answers the product's 404. The local stack's gateway
/// (scripts/local_gateway.py) reads the same events, so this holds locally too.
#[test]
fn template_routes_are_the_functions_own_routes() {
    let template = template();
    let mut deployed = BTreeSet::new();
    let mut fallbacks = Vec::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_string();
        let events = resource["Properties"]["Events"].as_mapping().unwrap();
        // HTTP API routes only (the webhook deliveries read a stream).
        for (_, event) in events.iter().filter(|(_, event)| event["Type"] == "HttpApi") {
            let path = event["Properties"]["Path"].as_str().unwrap();
            if path == "$default" {
                fallbacks.push(binary.clone());
            } else {
                deployed.insert((path.to_string(), binary.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = [
        ("users", users::routes()),
        ("passwords", passwords::routes()),
        ("logs", logs::routes()),
        ("oidc", oidc::routes()),
        ("docs", docs::routes()),
        ("hooks", hooks::routes()),
    ]
    .into_iter()
    .flat_map(|(binary, routes)| routes.iter().map(move |(_, path)| (path.to_string(), binary.to_string())))
    .collect();
    assert_eq!(deployed, served, "template.yaml routes a path to a function that does not serve it");
    assert_eq!(fallbacks, ["users"], "one $default route, to the users function");
}

/// A property whose value is `!Ref <parameter>`, as the YAML parser reads the tag.
fn refers_to(value: &Value, parameter: &str) -> bool {
    match value {
        Value::Tagged(tagged) => tagged.tag == "Ref" && tagged.value.as_str() == Some(parameter),
        _ => false,
    }
}

#[test]
fn production_guardrails_are_present_and_parameterised() {
    let template = template();
    let parameters = &template["Parameters"];
    let resources = &template["Resources"];
    for parameter in [
        "ApiThrottlingRateLimit",
        "ApiThrottlingBurstLimit",
        "TokenThrottlingRateLimit",
        "TokenThrottlingBurstLimit",
        "AccessLogRetentionDays",
        "CorsAllowedOrigins",
        "PasswordsReservedConcurrency",
        "OidcReservedConcurrency",
        "EnableTracing",
        "AlarmTopicArn",
        "Issuer",
        "PublicBaseUrl",
        "LockoutMaxFailures",
        "LockoutWindowSeconds",
        "ListCacheMilliseconds",
    ] {
        assert!(parameters[parameter].get("Default").is_some(), "{parameter} has a safe default");
    }
    // The figure the list cache's bound and the benchmark's ceilings are computed for.
    assert_eq!(
        parameters["ListCacheMilliseconds"]["Default"].as_u64(),
        Some(shared::config::TEMPLATE_LIST_CACHE_MS)
    );

    let api = &resources["Api"]["Properties"];
    assert!(refers_to(&api["DefaultRouteSettings"]["ThrottlingRateLimit"], "ApiThrottlingRateLimit"));
    assert!(refers_to(&api["DefaultRouteSettings"]["ThrottlingBurstLimit"], "ApiThrottlingBurstLimit"));
    let token = &api["RouteSettings"]["ANY /oidc/token"];
    assert!(refers_to(&token["ThrottlingRateLimit"], "TokenThrottlingRateLimit"));
    assert!(refers_to(&token["ThrottlingBurstLimit"], "TokenThrottlingBurstLimit"));
    let format = api["AccessLogSettings"]["Format"].as_str().expect("an access log format");
    let line: serde_json::Value =
        serde_json::from_str(&format.replace('\n', " ")).expect("the access log line is JSON");
    for field in ["requestId", "routeKey", "status", "latencyMs"] {
        assert!(line.get(field).is_some(), "access logs carry {field}");
    }
    assert_eq!(resources["ApiAccessLogGroup"]["Type"], "AWS::Logs::LogGroup");
    let cors = format!("{:?}", api["CorsConfiguration"]);
    for header in ["total-number", "link", "etag", "next-page-token"] {
        assert!(cors.contains(header), "CORS exposes {header}");
    }
    assert!(cors.contains("CorsAllowedOrigins"));

    for (function, parameter) in
        [("PasswordsFunction", "PasswordsReservedConcurrency"), ("OidcFunction", "OidcReservedConcurrency")]
    {
        let reserved = format!("{:?}", resources[function]["Properties"]["ReservedConcurrentExecutions"]);
        assert!(reserved.contains(parameter), "{function}: {reserved}");
    }
    assert!(format!("{:?}", template["Globals"]["Function"]["Tracing"]).contains("Active"));
    let environment = &template["Globals"]["Function"]["Environment"]["Variables"];
    for (variable, parameter) in [
        ("ISSUER", "Issuer"),
        ("PUBLIC_BASE_URL", "PublicBaseUrl"),
        ("LOCKOUT_MAX_FAILURES", "LockoutMaxFailures"),
        ("LOCKOUT_WINDOW_SECS", "LockoutWindowSeconds"),
        ("LIST_CACHE_MS", "ListCacheMilliseconds"),
    ] {
        assert!(refers_to(&environment[variable], parameter), "{variable}");
    }

    // Alarms: the API's 5xx rate, every function, every table; all to the same topic.
    let alarms: Vec<(&String, &Value)> = resources
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(name, r)| {
            (
                match name {
                    Value::String(n) => n,
                    _ => unreachable!(),
                },
                r,
            )
        })
        .collect();
    let names: BTreeSet<&str> = alarms.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "Api5xxAlarm",
        "UsersFunctionAlarm",
        "PasswordsFunctionAlarm",
        "LogsFunctionAlarm",
        "OidcFunctionAlarm",
        "DocsFunctionAlarm",
        "HooksFunctionAlarm",
        "UsersTableAlarm",
        "LogsTableAlarm",
        "AppsTableAlarm",
        "HooksTableAlarm",
        "LockoutBurstAlarm",
        "TokenRefusalBurstAlarm",
    ] {
        assert!(names.contains(expected), "{expected} in {names:?}");
    }
    for (name, alarm) in &alarms {
        let actions = format!("{:?}", alarm["Properties"]["AlarmActions"]);
        assert!(actions.contains("AlarmTopicArn"), "{name} notifies the topic");
    }

    // Nothing stateful goes with a stack update or deletion.
    for (name, resource) in resources.as_mapping().unwrap() {
        let stateful =
            ["AWS::DynamoDB::Table", "AWS::Logs::LogGroup"].contains(&resource["Type"].as_str().unwrap());
        if stateful {
            assert_eq!(resource["DeletionPolicy"], "Retain", "{name:?}");
            assert_eq!(resource["UpdateReplacePolicy"], "Retain", "{name:?}");
        }
    }
    let outputs = &template["Outputs"];
    for output in [
        "ApiUrl",
        "TokenUrl",
        "JwksUrl",
        "UsersTableName",
        "LogsTableName",
        "AppsTableName",
        "HooksTableName",
        "UsersFunctionName",
        "OidcFunctionName",
    ] {
        assert!(outputs.get(output).is_some(), "output {output}");
    }
}

#[test]
fn the_readmes_sam_local_commands_name_real_functions_and_events() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let start = readme.find("### SAM local").expect("the README documents SAM local");
    let section = &readme[start..];
    // To the next heading (the code block's `#` comments are not headings).
    let end = ["\n## ", "\n### "].iter().filter_map(|h| section[4..].find(h)).min();
    let section = &section[..end.map_or(section.len(), |end| end + 4)];
    let resources = &template()["Resources"];
    let functions: Vec<&str> = section
        .split("sam local invoke ")
        .skip(1)
        .map(|rest| rest.split_whitespace().next().unwrap())
        .filter(|word| word.starts_with(|c: char| c.is_ascii_uppercase()))
        .collect();
    assert!(functions.len() >= 2, "{functions:?}");
    for function in functions {
        assert_eq!(resources[function]["Type"], "AWS::Serverless::Function", "{function} in template.yaml");
    }
    let events: Vec<&str> = section
        .match_indices("events/")
        .map(|(at, _)| {
            let name = section[at + 7..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'));
            &section[at..at + 7 + name.unwrap_or(section.len() - at - 7)]
        })
        .filter(|path| path.ends_with(".json"))
        .collect();
    assert!(!events.is_empty());
    for event in events {
        assert!(std::path::Path::new(&format!("{root}/{event}")).is_file(), "{event} exists");
    }
    for script in ["scripts/stack", "scripts/sam-local-env"] {
        assert!(section.contains(script) && std::path::Path::new(&format!("{root}/{script}")).is_file());
    }
}

/// The secrets a function's environment names by id (`*_SECRET_ID`, as `Config::load` reads
/// them) and the secrets its policy lets it read, each as the `!Ref` target.
fn secrets_named_and_granted(template: &Value, function: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let target = |value: &Value| match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str().map(str::to_string),
        _ => None,
    };
    let mut named = BTreeSet::new();
    for variables in [
        &template["Globals"]["Function"]["Environment"]["Variables"],
        &function["Properties"]["Environment"]["Variables"],
    ] {
        for (name, value) in variables.as_mapping().into_iter().flatten() {
            if name.as_str().is_some_and(|n| n.ends_with("_SECRET_ID")) {
                named.insert(target(value).expect("a secret id is a !Ref"));
            }
        }
    }
    let mut granted = BTreeSet::new();
    let policies = function["Properties"]["Policies"].as_sequence().cloned().unwrap_or_default();
    for statement in policies.iter().flat_map(|p| p["Statement"].as_sequence().cloned().unwrap_or_default()) {
        let actions = format!("{:?}", statement["Action"]);
        if actions.contains("secretsmanager:") {
            assert!(!actions.contains('*'), "no wildcard Secrets Manager action: {actions}");
            for resource in statement["Resource"].as_sequence().unwrap() {
                granted.insert(target(resource).expect("a secret grant names one secret"));
            }
        }
    }
    (named, granted)
}

#[test]
fn no_secret_sits_in_a_plain_environment_variable() {
    let template = template();
    // Secrets are Secrets Manager ids in the environment, never values: no NoEcho parameter
    // (a secret typed into a deploy) and no page-token key as a parameter.
    for (name, parameter) in template["Parameters"].as_mapping().unwrap() {
        assert!(parameter.get("NoEcho").is_none(), "{name:?} is a secret parameter");
    }
    assert_eq!(template["Resources"]["PageTokenKey"]["Type"], "AWS::SecretsManager::Secret");
    assert!(template["Resources"]["PageTokenKey"]["Properties"].get("GenerateSecretString").is_some());
    let mut readers = BTreeSet::new();
    for (name, function) in template["Resources"].as_mapping().unwrap() {
        if function["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let (named, granted) = secrets_named_and_granted(&template, function);
        assert_eq!(named, granted, "{name:?}: the secrets it names (left) and may read (right) differ");
        for secret in granted {
            readers.insert((name.as_str().unwrap().to_string(), secret));
        }
    }
    let expected: BTreeSet<(String, String)> = [
        ("UsersFunction", "PageTokenKey"),
        ("LogsFunction", "PageTokenKey"),
        ("OidcFunction", "SigningKeysSecretArn"),
    ]
    .into_iter()
    .map(|(f, s)| (f.to_string(), s.to_string()))
    .collect();
    assert_eq!(readers, expected, "only oidc reads the signing keys; only users and logs page");
    let oidc = &template["Resources"]["OidcFunction"]["Properties"]["Environment"]["Variables"];
    assert!(refers_to(&oidc["SIGNING_KEY_ID"], "SigningKeyId"));
}

#[test]
fn the_readmes_deploy_guide_gives_every_required_parameter_and_names_real_ones() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let start = readme.find("## Deploying to AWS").expect("the README has a deploy guide");
    let section = &readme[start..start + readme[start..].find("### Template parameters").unwrap()];
    let template = template();
    let parameters = template["Parameters"].as_mapping().unwrap();
    // `ParameterKey=Name,…` and `--parameter-overrides Name=…` forms.
    let mut named = BTreeSet::new();
    for (at, _) in section.match_indices("ParameterKey=") {
        named.insert(section[at + 13..].split(',').next().unwrap().to_string());
    }
    for (at, _) in section.match_indices("--parameter-overrides ") {
        let word = section[at + 22..].split_whitespace().next().unwrap();
        if let Some((name, _)) = word.split_once('=') {
            named.insert(name.to_string());
        }
    }
    assert!(named.len() >= 3, "{named:?}");
    for name in &named {
        assert!(parameters.contains_key(name.as_str()), "the guide names {name}, which template.yaml lacks");
    }
    let first_deploy = &section[section.find("sam deploy").unwrap()..];
    let first_deploy = &first_deploy[..first_deploy.find("\n\n").unwrap_or(first_deploy.len())];
    for (name, parameter) in parameters {
        if parameter.get("Default").is_none() {
            let name = name.as_str().unwrap();
            assert!(first_deploy.contains(&format!("ParameterKey={name},")), "the first deploy gives {name}");
        }
    }
    // The rotation's lines print what they deploy: usersctl's output names the same parameters.
    for (command, parameter) in
        [("keys stage", "AuthJwks"), ("keys activate", "SigningKeyId"), ("keys retire", "AuthJwks")]
    {
        let line = section.lines().find(|l| l.contains(command)).unwrap_or_else(|| panic!("{command}"));
        assert!(line.contains(&format!("{parameter}=\"${parameter}\"")), "{line}");
    }
}

#[test]
fn the_dashboard_reads_the_metrics_the_access_lines_carry() {
    let template = template();
    let Value::Tagged(body) = &template["Resources"]["Dashboard"]["Properties"]["DashboardBody"] else {
        panic!("the dashboard body is a !Sub");
    };
    let text = body
        .value
        .as_str()
        .unwrap()
        .replace("${AWS::StackName}", "users-api")
        .replace("${AWS::Region}", "eu-west-1");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard body is JSON");
    let environment = &template["Globals"]["Function"]["Environment"]["Variables"];
    let Value::Tagged(namespace) = &environment["METRICS_NAMESPACE"] else { panic!("a !Sub namespace") };
    let namespace = namespace.value.as_str().unwrap().replace("${AWS::StackName}", "users-api");

    // The metric names a JSON access line declares, from a line with every optional part.
    let record = shared::telemetry::Record { hashing_ms: Some(1.0), ..Default::default() };
    let line = shared::telemetry::AccessLine {
        timestamp_ms: 0,
        service: "passwords",
        request_id: None,
        api_request_id: None,
        trace_id: None,
        method: "POST".into(),
        route: "/api/users/{userId}/password/verify",
        served: true,
        status: 204,
        latency_ms: 1.0,
        cold_start: true,
        record,
    };
    let line: serde_json::Value = serde_json::from_str(&line.to_json(&namespace)).unwrap();
    let mut emitted: BTreeSet<String> = BTreeSet::new();
    for set in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
        assert_eq!(set["Namespace"], namespace.as_str());
        emitted.extend(
            set["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].as_str().unwrap().to_string()),
        );
    }
    for outcome in ["TokenIssued", "TokenRefused", "PasswordRejected", "PasswordLocked"] {
        emitted.insert(outcome.to_string());
    }

    let mut charted = BTreeSet::new();
    for widget in dashboard["widgets"].as_array().unwrap() {
        for metric in widget["properties"]["metrics"].as_array().unwrap() {
            if let Some(expression) = metric[0]["expression"].as_str() {
                assert!(expression.contains(&format!("\"{namespace}\"")), "{expression}");
                let name = expression.split("MetricName=\"").nth(1).unwrap().split('"').next().unwrap();
                charted.insert(name.to_string());
            } else {
                assert_eq!(metric[0], namespace.as_str(), "{metric}");
                charted.insert(metric[1].as_str().unwrap().to_string());
            }
        }
    }
    let missing: Vec<_> = charted.difference(&emitted).collect();
    assert!(missing.is_empty(), "the dashboard charts metrics no line emits: {missing:?}");
    for needed in ["Requests", "Errors5xx", "Latency", "ColdStart", "PasswordLocked", "DynamoDbCapacityUnits"]
    {
        assert!(charted.contains(needed), "the dashboard charts {needed}");
    }
}
