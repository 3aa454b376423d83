//! The operations the emulator serves, recognised from method + `restype`/`comp` + which
//! parts of the path are present, and what a SAS must grant for each.

use axum::http::{Method, StatusCode};

use super::error::BlobError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    ListContainers,
    GetServiceProperties,
    SetServiceProperties,
    GetAccountInfo,
    /// Get User Delegation Key (bearer tokens only).
    GetUserDelegationKey,
    CreateContainer,
    GetContainerProperties,
    SetContainerMetadata,
    DeleteContainer,
    ListBlobs,
    PutBlob,
    PutBlock,
    PutBlockList,
    GetBlockList,
    GetBlob,
    GetBlobProperties,
    SetBlobMetadata,
    SetBlobProperties,
    DeleteBlob,
}

/// The level of the account a request addresses (an account SAS's `srt` letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Service,
    Container,
    Object,
}

impl Level {
    pub fn srt_letter(self) -> char {
        match self {
            Level::Service => 's',
            Level::Container => 'c',
            Level::Object => 'o',
        }
    }
}

/// `comp` values of the real service the emulator does not implement, with what they are.
const UNIMPLEMENTED_COMP: &[(&str, &str)] = &[
    ("acl", "container access policies"),
    ("lease", "leases"),
    ("snapshot", "snapshots"),
    ("copy", "copy operations"),
    ("tags", "blob index tags"),
    ("tier", "access tiers"),
    ("appendblock", "append blobs"),
    ("page", "page blobs"),
    ("pagelist", "page blobs"),
    ("incrementalcopy", "incremental copy"),
    ("stats", "service statistics"),
    ("batch", "blob batch requests"),
    ("blobs", "find blobs by tags"),
    ("undelete", "soft delete"),
    ("expiry", "blob expiry"),
    ("query", "blob query"),
    ("immutabilityPolicies", "immutability policies"),
    ("legalhold", "legal holds"),
    ("rename", "container rename"),
    ("seal", "append blobs"),
    ("block", "staging blocks from a URL"),
];

fn not_allowed() -> BlobError {
    BlobError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "UnsupportedHttpVerb",
        "The resource doesn't support specified Http Verb.",
    )
}

impl Op {
    /// Recognises the operation. `has_container`/`has_blob`: which path parts are present;
    /// `copy_source`: an `x-ms-copy-source` header is present.
    pub fn classify(
        method: &Method,
        has_container: bool,
        has_blob: bool,
        restype: Option<&str>,
        comp: Option<&str>,
        copy_source: bool,
    ) -> Result<Op, BlobError> {
        let m = method.as_str();
        let get = m == "GET" || m == "HEAD";
        // Get Account Information works on any resource of the account.
        if restype == Some("account") && comp == Some("properties") {
            return if get {
                Ok(Op::GetAccountInfo)
            } else {
                Err(not_allowed())
            };
        }
        let op = match (has_container, has_blob, restype, comp, m) {
            (false, _, None, Some("list"), "GET") => Op::ListContainers,
            (false, _, Some("service"), Some("properties"), "GET") => Op::GetServiceProperties,
            (false, _, Some("service"), Some("properties"), "PUT") => Op::SetServiceProperties,
            (false, _, Some("service"), Some("userdelegationkey"), "POST") => {
                Op::GetUserDelegationKey
            }
            (true, false, Some("container"), None, "PUT") => Op::CreateContainer,
            (true, false, Some("container"), None, "GET" | "HEAD") => Op::GetContainerProperties,
            (true, false, Some("container"), None, "DELETE") => Op::DeleteContainer,
            (true, false, Some("container"), Some("metadata"), "GET" | "HEAD") => {
                Op::GetContainerProperties
            }
            (true, false, Some("container"), Some("metadata"), "PUT") => Op::SetContainerMetadata,
            (true, false, Some("container"), Some("list"), "GET") => Op::ListBlobs,
            (true, true, None, None, "PUT") if copy_source => {
                return Err(BlobError::not_implemented("Copy Blob"));
            }
            (true, true, None, None, "PUT") => Op::PutBlob,
            (true, true, None, None, "GET") => Op::GetBlob,
            (true, true, None, None, "HEAD") => Op::GetBlobProperties,
            (true, true, None, None, "DELETE") => Op::DeleteBlob,
            (true, true, None, Some("block"), "PUT") if copy_source => {
                return Err(BlobError::not_implemented("Put Block From URL"));
            }
            (true, true, None, Some("block"), "PUT") => Op::PutBlock,
            (true, true, None, Some("blocklist"), "PUT") => Op::PutBlockList,
            (true, true, None, Some("blocklist"), "GET" | "HEAD") => Op::GetBlockList,
            (true, true, None, Some("metadata"), "GET" | "HEAD") => Op::GetBlobProperties,
            (true, true, None, Some("metadata"), "PUT") => Op::SetBlobMetadata,
            (true, true, None, Some("properties"), "PUT") => Op::SetBlobProperties,
            (_, _, _, Some(c), _) => {
                if let Some((_, what)) = UNIMPLEMENTED_COMP.iter().find(|(k, _)| *k == c) {
                    return Err(BlobError::not_implemented(what));
                }
                return Err(if KNOWN_COMP.contains(&c) {
                    not_allowed()
                } else {
                    BlobError::invalid_query("comp", c, "unknown operation")
                });
            }
            (_, _, Some(r), None, _) if !["container", "service", "account"].contains(&r) => {
                return Err(BlobError::invalid_query(
                    "restype",
                    r,
                    "unknown resource type",
                ));
            }
            (false, _, None, None, _) => {
                return Err(BlobError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidUri",
                    "The requested URI does not represent any resource on the server.",
                ));
            }
            (true, false, None, None, _) => {
                // `/account/container` without restype=container is the blob `container`
                // of the `$root` container: not supported here.
                return Err(BlobError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidUri",
                    "The requested URI does not represent any resource on the server: add restype=container for container operations (the $root container is not supported).",
                ));
            }
            _ => return Err(not_allowed()),
        };
        Ok(op)
    }

    pub fn level(self) -> Level {
        use Op::*;
        match self {
            ListContainers | GetServiceProperties | SetServiceProperties | GetAccountInfo
            | GetUserDelegationKey => Level::Service,
            CreateContainer
            | GetContainerProperties
            | SetContainerMetadata
            | DeleteContainer
            | ListBlobs => Level::Container,
            PutBlob | PutBlock | PutBlockList | GetBlockList | GetBlob | GetBlobProperties
            | SetBlobMetadata | SetBlobProperties | DeleteBlob => Level::Object,
        }
    }

    /// SAS permission letters of which the SAS must hold at least one (`sp`).
    pub fn sas_permissions(self) -> &'static str {
        use Op::*;
        match self {
            GetAccountInfo => "racwdxyltmeopi",
            // No SAS grants it; an identity with any data role may.
            GetUserDelegationKey => "",
            ListContainers | ListBlobs => "l",
            GetServiceProperties
            | GetContainerProperties
            | GetBlob
            | GetBlobProperties
            | GetBlockList => "r",
            SetServiceProperties | SetContainerMetadata | SetBlobMetadata | SetBlobProperties => {
                "w"
            }
            CreateContainer => "cw",
            // `c` only while the blob does not exist yet: checked again by the handler.
            PutBlob | PutBlockList | PutBlock => "cw",
            DeleteContainer | DeleteBlob => "d",
        }
    }

    /// Whether a service SAS (`sr=c`/`sr=b`) can authorise the operation at all.
    /// Whether the operation only reads (what Storage Blob Data Reader may do).
    pub fn reads_only(self) -> bool {
        matches!(self, Op::GetUserDelegationKey | Op::GetAccountInfo)
            || self.sas_permissions().chars().all(|c| "rl".contains(c))
    }

    pub fn service_sas_allowed(self) -> bool {
        !matches!(self.level(), Level::Service) || self == Op::GetAccountInfo
    }
}

const KNOWN_COMP: &[&str] = &[
    "list",
    "properties",
    "metadata",
    "block",
    "blocklist",
    "userdelegationkey",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn op(
        m: &str,
        c: bool,
        b: bool,
        r: Option<&str>,
        comp: Option<&str>,
    ) -> Result<Op, &'static str> {
        Op::classify(
            &Method::from_bytes(m.as_bytes()).unwrap(),
            c,
            b,
            r,
            comp,
            false,
        )
        .map_err(|e| e.code)
    }

    #[test]
    fn operations_are_recognised() {
        assert_eq!(
            op("GET", false, false, None, Some("list")),
            Ok(Op::ListContainers)
        );
        assert_eq!(
            op("PUT", true, false, Some("container"), None),
            Ok(Op::CreateContainer)
        );
        assert_eq!(
            op("HEAD", true, false, Some("container"), None),
            Ok(Op::GetContainerProperties)
        );
        assert_eq!(
            op("GET", true, false, Some("container"), Some("list")),
            Ok(Op::ListBlobs)
        );
        assert_eq!(op("PUT", true, true, None, None), Ok(Op::PutBlob));
        assert_eq!(op("PUT", true, true, None, Some("block")), Ok(Op::PutBlock));
        assert_eq!(
            op("PUT", true, true, None, Some("blocklist")),
            Ok(Op::PutBlockList)
        );
        assert_eq!(
            op("GET", true, true, None, Some("blocklist")),
            Ok(Op::GetBlockList)
        );
        assert_eq!(
            op("HEAD", true, true, None, None),
            Ok(Op::GetBlobProperties)
        );
        assert_eq!(op("DELETE", true, true, None, None), Ok(Op::DeleteBlob));
        assert_eq!(
            op("GET", true, true, Some("account"), Some("properties")),
            Ok(Op::GetAccountInfo)
        );
        assert_eq!(
            op("GET", false, false, Some("service"), Some("properties")),
            Ok(Op::GetServiceProperties)
        );
        assert_eq!(
            op("POST", true, true, None, None),
            Err("UnsupportedHttpVerb")
        );
        assert_eq!(
            op("PUT", true, true, None, Some("lease")),
            Err("NotImplemented")
        );
        assert_eq!(
            op("PUT", true, true, None, Some("bogus")),
            Err("InvalidQueryParameterValue")
        );
        assert_eq!(op("GET", false, false, None, None), Err("InvalidUri"));
        assert!(
            Op::classify(&Method::PUT, true, true, None, None, true).is_err(),
            "copy is refused, not treated as an empty Put Blob"
        );
    }

    #[test]
    fn sas_permission_mapping() {
        assert_eq!(Op::GetBlob.sas_permissions(), "r");
        assert_eq!(Op::GetBlockList.sas_permissions(), "r");
        assert_eq!(Op::ListBlobs.sas_permissions(), "l");
        assert_eq!(Op::ListContainers.sas_permissions(), "l");
        assert!(Op::PutBlob.sas_permissions().contains('w'));
        assert!(!Op::PutBlob.sas_permissions().contains('r'));
        assert_eq!(Op::DeleteBlob.sas_permissions(), "d");
        assert_eq!(Op::PutBlock.level(), Level::Object);
        assert_eq!(Op::ListBlobs.level(), Level::Container);
        assert_eq!(Op::ListContainers.level().srt_letter(), 's');
        assert!(!Op::ListContainers.service_sas_allowed());
        assert!(Op::ListBlobs.service_sas_allowed());
    }
}
