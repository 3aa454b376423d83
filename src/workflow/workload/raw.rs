//! The workload file as written: serde types that refuse unknown keys and keep the position
//! of every value that a later check may have to point at.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;

/// The whole file. Keys are snake_case; see the README's "Workload files".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub params: BTreeMap<Spanned<String>, Spanned<Param>>,
    #[serde(default)]
    pub storage: RawStorage,
    pub pool: RawPool,
    pub job: RawJob,
    #[serde(default)]
    pub tasks: Vec<Spanned<RawTask>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub application_container: Option<Spanned<String>>,
    pub input_container: Option<Spanned<String>>,
    pub output_container: Option<Spanned<String>>,
    pub output_dir: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    pub id: Spanned<String>,
    pub vm_size: Option<Spanned<String>>,
    pub dedicated_nodes: Option<Spanned<u32>>,
    pub spot_nodes: Option<Spanned<u32>>,
    pub task_slots_per_node: Option<Spanned<u32>>,
    pub reuse: Option<bool>,
    pub image: Option<RawImage>,
    pub start_task: Option<RawStartTask>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    pub publisher: String,
    pub offer: String,
    pub sku: String,
    pub version: Option<String>,
    pub node_agent_sku: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStartTask {
    pub command_line: Spanned<String>,
    pub shell: Option<bool>,
    #[serde(default)]
    pub resource_files: Vec<Spanned<RawFile>>,
    #[serde(default)]
    pub environment: BTreeMap<Spanned<String>, Spanned<String>>,
    pub wait_for_success: Option<bool>,
    pub max_retries: Option<Spanned<i32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    pub id: Spanned<String>,
    pub priority: Option<Spanned<i32>>,
    pub max_wall_clock_time: Option<Spanned<String>>,
    pub max_task_retries: Option<Spanned<i32>>,
    pub on_all_tasks_complete: Option<Spanned<String>>,
    pub on_task_failure: Option<Spanned<String>>,
}

/// One `[[tasks]]` entry: a task, or one task per input file when it has `inputs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTask {
    pub id: Spanned<String>,
    pub inputs: Option<Spanned<String>>,
    pub text_inputs: Option<bool>,
    pub command_line: Spanned<String>,
    pub shell: Option<bool>,
    #[serde(default)]
    pub resource_files: Vec<Spanned<RawFile>>,
    #[serde(default)]
    pub environment: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub outputs: Vec<Spanned<RawOutput>>,
    pub max_retries: Option<Spanned<i32>>,
    pub max_wall_clock_time: Option<Spanned<String>>,
    pub retention_time: Option<Spanned<String>>,
    pub required_slots: Option<Spanned<u32>>,
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    #[serde(default)]
    pub depends_on_ranges: Vec<Spanned<(u32, u32)>>,
    pub on_failure: Option<RawExitOptions>,
}

/// What a task's failure does to the tasks that depend on it, and to the job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExitOptions {
    pub dependency_action: Option<Spanned<String>>,
    pub job_action: Option<Spanned<String>>,
}

/// A parameter's value: a string or a whole number, used as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param(pub String);

impl<'de> Deserialize<'de> for Param {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Param;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a whole number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Param, E> {
                Ok(Param(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Param, E> {
                Ok(Param(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Param, E> {
                Ok(Param(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A resource file: a local file (a string, or `{ file, path }`), an HTTP(S) URL
/// (`{ url, path }`), or blobs of one of the workload's containers (`{ container, prefix, path }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFile {
    pub file: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub container: Option<Spanned<String>>,
    pub prefix: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileTable {
    file: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    container: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
}

impl<'de> StrOrTable<'de> for RawFile {
    type Table = RawFileTable;
    const EXPECTING: &'static str = "a local file's path, or a table with file, url or container";
    fn from_str(v: &str) -> Self {
        RawFile {
            file: Some(Spanned::new(0..0, v.to_string())),
            url: None,
            container: None,
            prefix: None,
            path: None,
        }
    }
    fn from_table(t: RawFileTable) -> Self {
        RawFile {
            file: t.file,
            url: t.url,
            container: t.container,
            prefix: t.prefix,
            path: t.path,
        }
    }
}

impl<'de> Deserialize<'de> for RawFile {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_or_table(d)
    }
}

/// An output file pattern: a string, or `{ pattern, path, upload }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOutput {
    pub pattern: Spanned<String>,
    pub path: Option<Spanned<String>>,
    pub upload: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutputTable {
    pattern: Spanned<String>,
    path: Option<Spanned<String>>,
    upload: Option<Spanned<String>>,
}

impl<'de> StrOrTable<'de> for RawOutput {
    type Table = RawOutputTable;
    const EXPECTING: &'static str = "a file pattern, or a table with pattern, path and upload";
    fn from_str(v: &str) -> Self {
        RawOutput {
            pattern: Spanned::new(0..0, v.to_string()),
            path: None,
            upload: None,
        }
    }
    fn from_table(t: RawOutputTable) -> Self {
        RawOutput {
            pattern: t.pattern,
            path: t.path,
            upload: t.upload,
        }
    }
}

impl<'de> Deserialize<'de> for RawOutput {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_or_table(d)
    }
}

/// A value the file may write as a string or as a table of its parts (a resource file, an
/// output pattern): one visitor serves both, the table refusing unknown keys.
trait StrOrTable<'de>: Sized {
    type Table: Deserialize<'de>;
    /// What the file should have written, for serde's "invalid type" message.
    const EXPECTING: &'static str;
    fn from_str(v: &str) -> Self;
    fn from_table(t: Self::Table) -> Self;
}

fn str_or_table<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: de::Deserializer<'de>,
    T: StrOrTable<'de>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: StrOrTable<'de>> Visitor<'de> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(T::EXPECTING)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            Ok(T::from_str(v))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            let t = T::Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
            Ok(T::from_table(t))
        }
    }
    d.deserialize_any(V(PhantomData))
}
