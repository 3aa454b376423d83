use url::Url;

use super::{BatchClient, BatchError};
use crate::azure::auth::SharedKeyCredential;

fn client() -> BatchClient {
    BatchClient::new(
        Url::parse("http://127.0.0.1:1/").unwrap(),
        SharedKeyCredential::new("devbatch", "a2V5").unwrap(),
    )
    .unwrap()
}

#[test]
fn urls_encode_ids_and_filters_like_the_sdks() {
    let c = client();
    let u = c.url(
        &[
            "jobs",
            "job 2",
            "tasks",
            "task0",
            "files",
            "wd/my file+x.txt",
        ],
        &[],
    );
    assert_eq!(
        u.as_str(),
        "http://127.0.0.1:1/jobs/job%202/tasks/task0/files/wd%2Fmy%20file%2Bx.txt?api-version=2025-06-01"
    );
    let u = c.url(
        &["jobs", "j", "tasks"],
        &[
            ("$filter", "state eq 'completed'".into()),
            ("$select", "id,state".into()),
        ],
    );
    assert_eq!(
        u.query().unwrap(),
        "api-version=2025-06-01&$filter=state%20eq%20%27completed%27&$select=id,state"
    );
}

#[test]
fn errors_name_the_account_and_the_variable_but_no_key() {
    let e = BatchError::Service {
        operation: "get pool".into(),
        account: "acct".into(),
        status: 403,
        code: "AuthenticationFailed".into(),
        message: "Server failed to authenticate the request.\nRequestId:x".into(),
        retry_after: None,
        auth: Box::default(),
    };
    let s = e.to_string();
    assert!(
        s.contains("'acct'") && s.contains("AZURE_BATCH_ACCESS_KEY"),
        "{s}"
    );
    assert!(!s.contains('\n'));
}
