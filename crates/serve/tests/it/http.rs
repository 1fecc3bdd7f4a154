//! The HTTP API over the embedded store.

use serde_json::{Value, json};
use serve::fixture::{CANDIDATES_PER_CLUSTER, CLUSTERS, feature_cols};
use serve::scoring::{LoadedModel, Scorer};

use crate::helpers::{TestApp, default_fixture};

fn offer_ids(body: &Value) -> Vec<String> {
    body["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["offer_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn recommends_top_k_for_a_customer_with_lightgbm_scores() {
    let fixture = default_fixture();
    let app = TestApp::spawn(fixture.embedded_settings());
    let model = LoadedModel::load(&fixture.model_dir(), &fixture.data_dir()).unwrap();
    let data = &fixture.data;
    let generation = feature_store::EmbeddedStore::from_files(&fixture.data_dir())
        .unwrap()
        .generation();
    let layout = model.layout_for(&generation).unwrap();
    let cols = feature_cols();

    for customer in 0..20 {
        let id = &data.customer_ids[customer];
        let (status, body) = app.get_json(&format!("/recommend/{id}"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["customer_id"], id.as_str());
        let cluster = data.clusters[customer];
        assert_eq!(body["cluster"], cluster);
        let expected_candidates = if cluster < CLUSTERS - 1 {
            CANDIDATES_PER_CLUSTER
        } else {
            data.offers.len()
        };
        assert_eq!(body["candidates_scored"], expected_candidates);
        let recs = body["recommendations"].as_array().unwrap();
        assert_eq!(recs.len(), 3, "default top_k is 3");

        // Every served score is LightGBM's own score for that row.
        let mut row = vec![0.0; cols.len()];
        for rec in recs {
            let offer = data
                .offers
                .iter()
                .position(|o| o.offer_id == rec["offer_id"].as_str().unwrap())
                .unwrap();
            layout.fill(data.features_of(customer), &data.offers[offer], &mut row);
            let reference = model
                .lightgbm_scores(&row, Scorer::LightGbmBatched)
                .unwrap()[0];
            let served = rec["score"].as_f64().unwrap();
            assert!((served - reference).abs() < 1e-9, "{served} vs {reference}");
            assert_eq!(rec["offer_name"], data.offer_names[offer].as_str());
        }
        let scores: Vec<f64> = recs.iter().map(|r| r["score"].as_f64().unwrap()).collect();
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "sorted best first: {scores:?}"
        );
    }
}

#[test]
fn a_record_id_answers_with_the_resolved_customer() {
    let fixture = default_fixture();
    let app = TestApp::spawn(fixture.embedded_settings());
    let customer = 0; // every third customer has two records
    let customer_id = &fixture.data.customer_ids[customer];
    let record_id = fixture.data.alias_of(customer).unwrap();
    assert_ne!(record_id, customer_id);
    let (status, by_record) = app.get_json(&format!("/recommend/{record_id}?top_k=4"));
    assert_eq!(status, 200, "{by_record}");
    assert_eq!(by_record["customer_id"], customer_id.as_str());
    let (_, by_customer) = app.get_json(&format!("/recommend/{customer_id}?top_k=4"));
    assert_eq!(by_record, by_customer);
}

#[test]
fn every_error_case_answers_with_a_json_body() {
    let fixture = default_fixture();
    let app = TestApp::spawn(fixture.embedded_settings());
    let id = &fixture.data.customer_ids[1];
    let catalogue = fixture.data.offers.len();

    let (status, body) = app.get_json("/recommend/NOBODY");
    assert_eq!(status, 404);
    assert_eq!(body["error"], "unknown_customer");
    assert!(body["message"].as_str().unwrap().contains("NOBODY"));

    let too_big = (catalogue + 1).to_string();
    for bad in ["0", "-1", too_big.as_str(), "abc", "2.5", ""] {
        let (status, body) = app.get_json(&format!("/recommend/{id}?top_k={bad}"));
        assert_eq!(status, 400, "top_k={bad}");
        assert_eq!(body["error"], "bad_request");
        assert!(
            body["message"].as_str().unwrap().contains("top_k"),
            "{body}"
        );
    }
    let (status, body) = app.get_json(&format!("/recommend/{id}?top_k={catalogue}"));
    assert_eq!(status, 200);
    assert_eq!(
        body["recommendations"].as_array().unwrap().len(),
        body["candidates_scored"]
            .as_u64()
            .unwrap()
            .min(catalogue as u64) as usize
    );
    let (status, _) = app.get_json(&format!("/recommend/{id}?explain=maybe"));
    assert_eq!(status, 400);

    // Malformed, wrongly typed, unknown-field, empty, oversized bodies.
    let post = |body: String, content_type: &str| {
        let response = app
            .client
            .post(format!("{}/recommend", app.address))
            .header("content-type", content_type)
            .body(body)
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().unwrap())
    };
    let (status, body) = post("{\"ids\": [".to_owned(), "application/json");
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("malformed_body"))
    );
    let (status, _) = post("{\"ids\": \"C1\"}".to_owned(), "application/json");
    assert_eq!(status, 400);
    let (status, _) = post(
        "{\"ids\": [\"C1\"], \"colour\": 1}".to_owned(),
        "application/json",
    );
    assert_eq!(status, 400);
    let (status, body) = post("{\"ids\": [\"C1\"]}".to_owned(), "text/plain");
    assert_eq!(
        (status, body["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let huge = format!("{{\"ids\": [\"{}\"]}}", "x".repeat(100_000));
    let (status, body) = post(huge, "application/json");
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("payload_too_large"))
    );
    let (status, _) = app.post_json("/recommend", &json!({"ids": []}));
    assert_eq!(status, 400);
    let too_many: Vec<String> = (0..101).map(|i| format!("C{i}")).collect();
    let (status, _) = app.post_json("/recommend", &json!({ "ids": too_many }));
    assert_eq!(status, 400);
    let (status, _) = app.post_json("/recommend", &json!({"ids": [id], "top_k": 0}));
    assert_eq!(status, 400);

    let (status, body) = app.get_json("/no/such/route");
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let response = app
        .client
        .delete(format!("{}/recommend", app.address))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
}

#[test]
fn a_batch_answers_each_id_in_order() {
    let fixture = default_fixture();
    let app = TestApp::spawn(fixture.embedded_settings());
    let data = &fixture.data;
    let alias = data.alias_of(3).unwrap();
    let ids = json!([data.customer_ids[2], "NOBODY", alias]);
    let (status, body) = app.post_json("/recommend", &json!({"ids": ids, "top_k": 2}));
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["status"], 200);
    assert_eq!(
        results[0]["result"]["customer_id"],
        data.customer_ids[2].as_str()
    );
    assert_eq!(offer_ids(&results[0]["result"]).len(), 2);
    assert_eq!(results[1]["status"], 404);
    assert_eq!(results[1]["error"]["error"], "unknown_customer");
    assert_eq!(results[2]["id"], alias);
    assert_eq!(
        results[2]["result"]["customer_id"],
        data.customer_ids[3].as_str()
    );
    // The batch answers what single requests answer.
    let (_, single) = app.get_json(&format!("/recommend/{}?top_k=2", data.customer_ids[2]));
    assert_eq!(results[0]["result"], single);
}

#[test]
fn explain_names_the_features_that_moved_each_score() {
    let fixture = default_fixture();
    let app = TestApp::spawn(fixture.embedded_settings());
    let id = &fixture.data.customer_ids[5];
    let (status, body) = app.get_json(&format!("/recommend/{id}?top_k=2&explain=true"));
    assert_eq!(status, 200, "{body}");
    let cols = feature_cols();
    for rec in body["recommendations"].as_array().unwrap() {
        let explanation = rec["explanation"].as_array().unwrap();
        assert_eq!(explanation.len(), 5);
        let magnitudes: Vec<f64> = explanation
            .iter()
            .map(|e| {
                assert!(cols.contains(&e["feature"].as_str().unwrap().to_owned()));
                e["contribution"].as_f64().unwrap().abs()
            })
            .collect();
        assert!(
            magnitudes.windows(2).all(|w| w[0] >= w[1]),
            "{magnitudes:?}"
        );
        assert!(magnitudes[0] > 0.0);
    }
    let (_, plain) = app.get_json(&format!("/recommend/{id}?top_k=2"));
    assert!(plain["recommendations"][0].get("explanation").is_none());
    assert_eq!(offer_ids(&plain), offer_ids(&body));
}

#[test]
fn health_metrics_and_openapi_describe_the_service() {
    let fixture = default_fixture();
    let app = TestApp::spawn(fixture.embedded_settings());
    let (status, health) = app.get_json("/");
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["model_loaded"], true);
    assert_eq!(health["model"]["model_version"], "fixture-v1");
    assert_eq!(health["store"]["kind"], "embedded");
    assert_eq!(health["store"]["reachable"], true);
    assert!(health["store"]["data_version"].is_string());

    let id = &fixture.data.customer_ids[0];
    for _ in 0..3 {
        assert_eq!(app.get(&format!("/recommend/{id}")).status(), 200);
    }
    assert_eq!(app.get("/recommend/NOBODY").status(), 404);
    let text = app.get("/metrics").text().unwrap();
    assert!(
        text.contains("offers_http_requests_total{route=\"GET /recommend/{id}\",status=\"200\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("offers_http_requests_total{route=\"GET /recommend/{id}\",status=\"404\"} 1")
    );
    assert!(text.contains("offers_http_request_duration_seconds_bucket{route=\"GET /recommend/{id}\",status=\"200\",le=\"+Inf\"} 3"));
    assert!(text.contains("offers_model_info{model_version=\"fixture-v1\"} 1"));
    assert!(text.contains("offers_store_errors_total{kind=\"unavailable\"} 0"));

    let (status, doc) = app.get_json("/openapi.json");
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in serve::routes::ROUTES {
        let operation =
            &paths.get(path).unwrap_or_else(|| panic!("{path} missing"))[method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        serve::routes::ROUTES.len(),
        "the document lists a route the app lacks"
    );
}

#[test]
fn edge_requests_get_documented_json_answers() {
    let fixture = default_fixture();
    let app = TestApp::spawn(fixture.embedded_settings());
    let json_error = |response: reqwest::blocking::Response| {
        let status = response.status().as_u16();
        let allow = response
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: serde_json::Value = response.json().expect("a JSON body");
        assert!(body["message"].is_string(), "{body}");
        (status, allow, body["error"].as_str().unwrap().to_owned())
    };
    // An empty id is a bad request, not a method problem.
    assert_eq!(
        json_error(app.get("/recommend/?top_k=3")),
        (400, None, "bad_request".to_owned())
    );
    // A known path with another method: 405 naming the allowed ones.
    let put = app
        .client
        .put(format!("{}/recommend/CUS1", app.address))
        .send()
        .unwrap();
    assert_eq!(
        json_error(put),
        (405, Some("GET".to_owned()), "method_not_allowed".to_owned())
    );
    let delete = app
        .client
        .delete(format!("{}/admin/reload", app.address))
        .send()
        .unwrap();
    assert_eq!(json_error(delete).1.as_deref(), Some("POST"));
    // Two segments are no route at all.
    assert_eq!(json_error(app.get("/recommend/a/b")).0, 404);
    // A long id: 414 with a JSON body, before any store lookup.
    let long = "x".repeat(serve::routes::recommend::MAX_ID_CHARS + 1);
    assert_eq!(
        json_error(app.get(&format!("/recommend/{long}"))),
        (414, None, "uri_too_long".to_owned())
    );
    let id_ok = "x".repeat(serve::routes::recommend::MAX_ID_CHARS);
    assert_eq!(app.get(&format!("/recommend/{id_ok}")).status(), 404);

    // top_k's documented bound is the real one: the catalogue size.
    let (_, doc) = app.get_json("/openapi.json");
    let offers = fixture.data.offers.len();
    let param = doc["paths"]["/recommend/{id}"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "top_k")
        .unwrap();
    assert_eq!(param["schema"]["maximum"], offers);
    assert_eq!(
        doc["components"]["schemas"]["BatchRequest"]["properties"]["top_k"]["maximum"],
        offers
    );
    assert_eq!(
        app.get(&format!(
            "/recommend/{}?top_k={offers}",
            fixture.data.customer_ids[0]
        ))
        .status(),
        200
    );
    assert_eq!(
        app.get(&format!(
            "/recommend/{}?top_k={}",
            fixture.data.customer_ids[0],
            offers + 1
        ))
        .status(),
        400
    );

    // The unauthenticated health answer names no path of this machine.
    let health = app.get("/").text().unwrap();
    let model_dir = fixture.model_dir().display().to_string();
    assert!(!health.contains(&model_dir), "{health}");
    assert!(!health.contains("model_dir"), "{health}");
}

#[test]
fn ids_and_nulls_behave_as_the_document_says() {
    use serve::routes::recommend::MAX_ID_CHARS;
    let fixture = default_fixture();
    let app = TestApp::spawn(fixture.embedded_settings());
    // Characters, not bytes, as the document's maxLength counts: 256 `é`
    // (512 bytes) is an unknown id, one more is too long.
    let wide = "\u{e9}".repeat(MAX_ID_CHARS);
    assert_eq!(app.get(&format!("/recommend/{wide}")).status(), 404);
    assert_eq!(app.get(&format!("/recommend/{wide}\u{e9}")).status(), 414);

    // In a batch an empty or too long id makes the whole request a 400
    // naming it; an unknown one stays a 404 item.
    let known = fixture.data.customer_ids[0].as_str();
    let long = "x".repeat(MAX_ID_CHARS + 1);
    for (ids, index) in [(json!([known, ""]), 1), (json!([long, known]), 0)] {
        let (status, body) = app.post_json("/recommend", &json!({ "ids": ids }));
        assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(&format!("ids[{index}]")), "{message}");
    }
    let (status, body) = app.post_json("/recommend", &json!({ "ids": [wide] }));
    assert_eq!(
        (status, body["results"][0]["status"].as_u64()),
        (200, Some(404))
    );

    // null top_k and as_of are the defaults, as documented (nullable).
    let (status, body) = app.post_json(
        "/recommend",
        &json!({"ids": [known], "top_k": null, "as_of": null}),
    );
    assert_eq!(status, 200, "{body}");
    let (_, defaults) = app.post_json("/recommend", &json!({ "ids": [known] }));
    assert_eq!(body, defaults);
    assert_eq!(body["results"][0]["status"], 200, "{body}");

    let (_, doc) = app.get_json("/openapi.json");
    let batch = &doc["components"]["schemas"]["BatchRequest"]["properties"];
    assert_eq!(batch["ids"]["items"]["maxLength"], MAX_ID_CHARS);
    assert_eq!(batch["ids"]["items"]["minLength"], 1);
    assert_eq!(batch["top_k"]["nullable"], true);
    assert_eq!(batch["as_of"]["nullable"], true);
    // A missing feature value is explained as null (NaN has no JSON form).
    assert_eq!(
        doc["components"]["schemas"]["FeatureContribution"]["properties"]["value"]["nullable"],
        true
    );
    let path_id = &doc["paths"]["/recommend/{id}"]["get"]["parameters"][0];
    assert_eq!(
        (path_id["name"].as_str(), &path_id["schema"]["maxLength"]),
        (Some("id"), &json!(MAX_ID_CHARS))
    );
}
