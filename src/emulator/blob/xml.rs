//! The service's XML: block lists (parsed and rendered), container and blob listings, and
//! the small documents of service properties.

use chrono::{DateTime, Utc};
use quick_xml::Reader;
/// Escapes text for element content and attribute values (`&`, `<`, `>`, quotes, and `\r`,
/// which XML would otherwise read back as `\n`).
pub use quick_xml::escape::escape;
use quick_xml::events::Event;

use super::error::BlobError;
use super::store::{BlobRec, BlockRec, ContainerRec};
use crate::azure::auth::http_date;

pub const DECLARATION: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;

/// Characters XML 1.0 cannot carry at all, even escaped.
fn xml_invalid(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `<Name>..</Name>`, or `<Name Encoded="true">` with the name percent-encoded when it holds
/// characters XML cannot carry (what the service does since 2020-10-02).
fn name_element(name: &str) -> String {
    if name.chars().any(xml_invalid) {
        let enc = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        format!(r#"<Name Encoded="true">{enc}</Name>"#)
    } else {
        format!("<Name>{}</Name>", escape(name))
    }
}

fn element(out: &mut String, name: &str, value: Option<&str>) {
    match value {
        Some(v) => out.push_str(&format!("<{name}>{}</{name}>", escape(v))),
        None => out.push_str(&format!("<{name} />")),
    }
}

fn metadata(out: &mut String, md: &[(String, String)]) {
    out.push_str("<Metadata>");
    for (k, v) in md {
        out.push_str(&format!("<{k}>{}</{k}>", escape(v)));
    }
    out.push_str("</Metadata>");
}

/// Which list a `Put Block List` entry looks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Committed,
    Uncommitted,
    Latest,
}

/// Parses the `<BlockList>` body of Put Block List.
pub fn parse_block_list(body: &[u8]) -> Result<Vec<(BlockKind, String)>, BlobError> {
    let text = std::str::from_utf8(body).map_err(|_| BlobError::invalid_xml("not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut root_seen = false;
    let mut current: Option<BlockKind> = None;
    let mut value = String::new();
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| BlobError::invalid_xml(e.to_string()))?;
        match ev {
            Event::Start(e) => {
                depth += 1;
                let name = e.local_name();
                let name: &str = name.as_ref();
                match (depth, name) {
                    (1, "BlockList") => root_seen = true,
                    (2, "Committed") => current = Some(BlockKind::Committed),
                    (2, "Uncommitted") => current = Some(BlockKind::Uncommitted),
                    (2, "Latest") => current = Some(BlockKind::Latest),
                    _ => {
                        return Err(BlobError::invalid_xml(format!(
                            "unexpected element <{name}>"
                        )));
                    }
                }
                value.clear();
            }
            Event::Empty(e) => {
                let name = e.local_name();
                let name: &str = name.as_ref();
                if depth == 0 && name == "BlockList" {
                    root_seen = true;
                } else {
                    // An empty block id is never valid.
                    return Err(BlobError::invalid_blob_or_block());
                }
            }
            Event::End(_) => {
                if let (2, Some(kind)) = (depth, current.take()) {
                    out.push((kind, std::mem::take(&mut value)));
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) => {
                if depth == 2 {
                    value.push_str(&t.xml10_content());
                } else if !t.xml10_content().trim().is_empty() {
                    return Err(BlobError::invalid_xml("text outside a block id"));
                }
            }
            Event::CData(t) if depth == 2 => value.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if depth == 2 => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    _ => match &*r {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => {
                            return Err(BlobError::invalid_xml(format!(
                                "unknown entity &{other};"
                            )));
                        }
                    },
                };
                value.push(c);
            }
            Event::Eof if depth == 0 => break,
            Event::Eof => return Err(BlobError::invalid_xml("unclosed element")),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            _ => return Err(BlobError::invalid_xml("unexpected content")),
        }
    }
    if !root_seen {
        return Err(BlobError::invalid_xml(
            "the root element must be <BlockList>",
        ));
    }
    Ok(out)
}

/// The Get Block List body.
pub fn render_block_list(
    committed: Option<&[(String, u64)]>,
    uncommitted: Option<&[(String, BlockRec)]>,
) -> String {
    let mut s = String::from(DECLARATION);
    s.push_str("<BlockList>");
    if let Some(c) = committed {
        s.push_str("<CommittedBlocks>");
        for (id, size) in c {
            s.push_str(&format!(
                "<Block><Name>{}</Name><Size>{size}</Size></Block>",
                escape(id)
            ));
        }
        s.push_str("</CommittedBlocks>");
    }
    if let Some(u) = uncommitted {
        s.push_str("<UncommittedBlocks>");
        for (id, b) in u {
            s.push_str(&format!(
                "<Block><Name>{}</Name><Size>{}</Size></Block>",
                escape(id),
                b.len
            ));
        }
        s.push_str("</UncommittedBlocks>");
    }
    s.push_str("</BlockList>");
    s
}

/// Paging parameters echoed in listings.
pub struct ListEcho<'a> {
    pub prefix: Option<&'a str>,
    pub marker: Option<&'a str>,
    pub max_results: Option<&'a str>,
    pub delimiter: Option<&'a str>,
}

fn echo(out: &mut String, e: &ListEcho<'_>) {
    if let Some(p) = e.prefix {
        element(out, "Prefix", Some(p));
    }
    if let Some(m) = e.marker {
        element(out, "Marker", Some(m));
    }
    if let Some(m) = e.max_results {
        element(out, "MaxResults", Some(m));
    }
    if let Some(d) = e.delimiter {
        element(out, "Delimiter", Some(d));
    }
}

/// The List Containers body.
pub fn render_containers(
    service_endpoint: &str,
    echo_params: &ListEcho<'_>,
    containers: &[(String, ContainerRec)],
    include_metadata: bool,
    next_marker: Option<&str>,
) -> String {
    let mut s = String::from(DECLARATION);
    s.push_str(&format!(
        r#"<EnumerationResults ServiceEndpoint="{}">"#,
        escape(service_endpoint)
    ));
    echo(&mut s, echo_params);
    s.push_str("<Containers>");
    for (name, c) in containers {
        s.push_str("<Container>");
        s.push_str(&name_element(name));
        s.push_str("<Properties>");
        element(&mut s, "Last-Modified", Some(&http_date(c.modified)));
        element(&mut s, "Etag", Some(&c.etag));
        s.push_str(
            "<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>\
             <DefaultEncryptionScope>$account-encryption-key</DefaultEncryptionScope>\
             <DenyEncryptionScopeOverride>false</DenyEncryptionScopeOverride>\
             <HasImmutabilityPolicy>false</HasImmutabilityPolicy><HasLegalHold>false</HasLegalHold>\
             <ImmutableStorageWithVersioningEnabled>false</ImmutableStorageWithVersioningEnabled>",
        );
        s.push_str("</Properties>");
        if include_metadata {
            metadata(&mut s, &c.metadata);
        }
        s.push_str("</Container>");
    }
    s.push_str("</Containers>");
    element(&mut s, "NextMarker", next_marker);
    s.push_str("</EnumerationResults>");
    s
}

/// One entry of a blob listing.
pub enum ListItem {
    Blob(String, Box<BlobRec>),
    Prefix(String),
}

fn opt_time(out: &mut String, name: &str, t: DateTime<Utc>) {
    element(out, name, Some(&http_date(t)));
}

/// The List Blobs body.
pub fn render_blobs(
    service_endpoint: &str,
    container: &str,
    echo_params: &ListEcho<'_>,
    items: &[ListItem],
    include_metadata: bool,
    next_marker: Option<&str>,
) -> String {
    let mut s = String::from(DECLARATION);
    s.push_str(&format!(
        r#"<EnumerationResults ServiceEndpoint="{}" ContainerName="{}">"#,
        escape(service_endpoint),
        escape(container)
    ));
    echo(&mut s, echo_params);
    s.push_str("<Blobs>");
    for item in items {
        match item {
            ListItem::Prefix(p) => {
                s.push_str("<BlobPrefix>");
                s.push_str(&name_element(p));
                s.push_str("</BlobPrefix>");
            }
            ListItem::Blob(name, b) => {
                s.push_str("<Blob>");
                s.push_str(&name_element(name));
                s.push_str("<Properties>");
                opt_time(&mut s, "Creation-Time", b.created);
                opt_time(&mut s, "Last-Modified", b.modified);
                // Listings carry the ETag without the quotes the header has.
                element(&mut s, "Etag", Some(b.etag.trim_matches('"')));
                element(&mut s, "Content-Length", Some(&b.size.to_string()));
                let p = &b.props;
                element(
                    &mut s,
                    "Content-Type",
                    Some(
                        p.content_type
                            .as_deref()
                            .unwrap_or("application/octet-stream"),
                    ),
                );
                element(&mut s, "Content-Encoding", p.content_encoding.as_deref());
                element(&mut s, "Content-Language", p.content_language.as_deref());
                element(&mut s, "Content-CRC64", None);
                element(&mut s, "Content-MD5", p.content_md5.as_deref());
                element(&mut s, "Cache-Control", p.cache_control.as_deref());
                element(
                    &mut s,
                    "Content-Disposition",
                    p.content_disposition.as_deref(),
                );
                s.push_str(
                    "<BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier>\
                     <AccessTierInferred>true</AccessTierInferred>\
                     <LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>\
                     <ServerEncrypted>true</ServerEncrypted>",
                );
                s.push_str("</Properties>");
                if include_metadata {
                    metadata(&mut s, &b.metadata);
                }
                s.push_str("</Blob>");
            }
        }
    }
    s.push_str("</Blobs>");
    element(&mut s, "NextMarker", next_marker);
    s.push_str("</EnumerationResults>");
    s
}

/// What Get Blob Service Properties answers before anyone set them: logging and metrics off,
/// no CORS rules, no soft delete, no static website.
pub fn default_service_properties() -> String {
    let mut s = String::from(DECLARATION);
    s.push_str(
        "<StorageServiceProperties>\
         <Logging><Version>1.0</Version><Read>false</Read><Write>false</Write><Delete>false</Delete>\
         <RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></Logging>\
         <HourMetrics><Version>1.0</Version><Enabled>false</Enabled>\
         <RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></HourMetrics>\
         <MinuteMetrics><Version>1.0</Version><Enabled>false</Enabled>\
         <RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></MinuteMetrics>\
         <Cors />\
         <DeleteRetentionPolicy><Enabled>false</Enabled></DeleteRetentionPolicy>\
         <StaticWebsite><Enabled>false</Enabled></StaticWebsite>\
         </StorageServiceProperties>",
    );
    s
}

/// Checks that a Set Blob Service Properties body is a well-formed
/// `<StorageServiceProperties>` document.
pub fn check_service_properties(body: &[u8]) -> Result<(), BlobError> {
    let text = std::str::from_utf8(body).map_err(|_| BlobError::invalid_xml("not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    let mut depth = 0usize;
    let mut root = None;
    loop {
        match reader
            .read_event()
            .map_err(|e| BlobError::invalid_xml(e.to_string()))?
        {
            Event::Start(e) => {
                if depth == 0 {
                    root = Some(AsRef::<str>::as_ref(&e.local_name()).to_string());
                }
                depth += 1;
            }
            Event::Empty(e) if depth == 0 => {
                root = Some(AsRef::<str>::as_ref(&e.local_name()).to_string());
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => break,
            _ => {}
        }
    }
    match root.as_deref() {
        Some("StorageServiceProperties") if depth == 0 => Ok(()),
        _ => Err(BlobError::invalid_xml(
            "the root element must be <StorageServiceProperties>",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sdk_block_list() {
        let body = "<?xml version='1.0' encoding='utf-8'?>\n<BlockList><Latest>WW14dlkyc3RNREF3TVE9PQ==</Latest><Committed>QQ==</Committed>\n  <Uncommitted>Qg&#61;&#61;</Uncommitted></BlockList>";
        let l = parse_block_list(body.as_bytes()).unwrap();
        assert_eq!(
            l,
            vec![
                (BlockKind::Latest, "WW14dlkyc3RNREF3TVE9PQ==".to_string()),
                (BlockKind::Committed, "QQ==".to_string()),
                (BlockKind::Uncommitted, "Qg==".to_string()),
            ]
        );
        assert_eq!(parse_block_list(b"<BlockList/>").unwrap(), vec![]);
    }

    #[test]
    fn rejects_bad_block_lists() {
        for bad in [
            "<BlockList><Latest>a</Latest>",
            "<Blocks><Latest>a</Latest></Blocks>",
            "<BlockList><Other>a</Other></BlockList>",
            "not xml",
            "<BlockList><Latest><X/></Latest></BlockList>",
        ] {
            let e = parse_block_list(bad.as_bytes()).unwrap_err();
            assert!(
                e.code == "InvalidXmlDocument" || e.code == "InvalidBlobOrBlock",
                "{bad}: {}",
                e.code
            );
        }
    }

    #[test]
    fn escapes_and_encodes_names() {
        assert_eq!(escape(r#"a<&>"'"#), "a&lt;&amp;&gt;&quot;&apos;");
        // A carriage return survives as a reference (a parser reads a raw one as `\n`).
        assert_eq!(escape("a\rb"), "a&#13;b");
        let name = "a\r&<>\"'b";
        assert_eq!(quick_xml::escape::unescape(&escape(name)).unwrap(), name);
        assert_eq!(name_element("a&b"), "<Name>a&amp;b</Name>");
        assert_eq!(
            name_element("a\u{1}b"),
            r#"<Name Encoded="true">a%01b</Name>"#
        );
    }

    #[test]
    fn block_list_renders_both_lists() {
        let s = render_block_list(Some(&[("QQ==".into(), 3)]), Some(&[]));
        assert!(s.ends_with(
            "<BlockList><CommittedBlocks><Block><Name>QQ==</Name><Size>3</Size></Block></CommittedBlocks><UncommittedBlocks></UncommittedBlocks></BlockList>"
        ));
    }

    #[test]
    fn service_properties_documents() {
        assert!(check_service_properties(default_service_properties().as_bytes()).is_ok());
        assert!(check_service_properties(b"<Other/>").is_err());
        assert!(check_service_properties(b"<StorageServiceProperties>").is_err());
    }
}
