//! The Batch api-versions: every one the service still serves is answered, in its own shapes;
//! others get the service's 400.
mod common;

use common::EmulatorProcess;
use common::batch_raw::Client;

/// The stable versions of the REST specification, from 2018-12-01.8.0 on.
const SERVED: &[&str] = &[
    "2018-12-01.8.0",
    "2019-06-01.9.0",
    "2019-08-01.10.0",
    "2020-03-01.11.0",
    "2020-09-01.12.0",
    "2021-06-01.14.0",
    "2022-01-01.15.0",
    "2022-10-01.16.0",
    "2023-05-01.17.0",
    "2023-11-01.18.0",
    "2024-02-01.19.0",
    "2024-07-01.20.0",
    "2025-06-01",
];

#[test]
fn every_served_api_version_is_answered_and_others_get_400() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    for v in SERVED {
        let (s, body) = c.send("GET", &format!("/pools?api-version={v}"), None);
        assert_eq!(s, 200, "{v}: {body}");
        let (s, body) = c.send("GET", &format!("/jobs?api-version={v}"), None);
        assert_eq!(s, 200, "{v}: {body}");
    }
    for v in [
        "2018-08-01.7.0",
        "2017-09-01.6.0",
        "2025-06-01.21.0",
        "2099-01-01",
        "latest",
    ] {
        let (s, body) = c.send("GET", &format!("/pools?api-version={v}"), None);
        assert_eq!(s, 400, "{v}: {body}");
        assert_eq!(body["code"], "InvalidQueryParameterValue", "{v}");
        let values = body["values"].as_array().unwrap();
        assert!(
            values
                .iter()
                .any(|kv| kv["key"] == "QueryParameterValue" && kv["value"] == *v),
            "{body}"
        );
    }
}
