//! The Batch data-plane api-versions the service still serves, oldest first, and what differs
//! between them on the wire.
//!
//! The list is the one of the REST specification (`specification/batch/data-plane/
//! Microsoft.Batch/stable/` of azure-rest-api-specs, from 2018-12-01.8.0 on); the differences
//! were read off the models Microsoft generated from each version (azure-batch 6.0.0 to
//! 15.1.0, one per version).

/// Every version the emulator answers, oldest first.
pub const API_VERSIONS: &[&str] = &[
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

/// An api-version a request named: its place in [`API_VERSIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(usize);

impl ApiVersion {
    /// The version named `v`, if the service serves it.
    pub fn parse(v: &str) -> Option<ApiVersion> {
        API_VERSIONS.iter().position(|k| *k == v).map(ApiVersion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_ordered_and_parse_exactly() {
        let v = |s| ApiVersion::parse(s).unwrap();
        assert!(v("2018-12-01.8.0") < v("2020-09-01.12.0"));
        assert!(v("2024-07-01.20.0") < v("2025-06-01"));
        for bad in [
            "2018-08-01.7.0",
            "2025-06-01.21.0",
            "2020-09-01",
            "",
            "latest",
        ] {
            assert_eq!(ApiVersion::parse(bad), None, "{bad}");
        }
        let mut sorted = API_VERSIONS.to_vec();
        sorted.sort();
        assert_eq!(sorted, API_VERSIONS);
    }
}
