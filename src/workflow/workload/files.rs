//! The files and strings of a task: its command line, environment, resource files (local
//! files to upload, URLs, container blobs) and output files, checked where they are written.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::nearest;
use super::raw::{RawFile, RawOutput};
use super::resolve::{Resolver, Vars, span_of};
use crate::azure::models::UploadCondition;
use crate::workflow::spec::{
    FileSource, OutputSpec, ResourceSpec, Role, SpecError, Upload, blob_name,
};

impl Resolver<'_> {
    pub(super) fn command_line(
        &self,
        v: &Spanned<String>,
        shell: Option<bool>,
        vars: &Vars,
    ) -> Result<String, SpecError> {
        let line = self.render(v, &v.span(), vars, "command_line")?;
        if line.trim().is_empty() {
            return Err(self.src.err(
                &v.span(),
                "command_line is empty: give the command the task runs",
            ));
        }
        if shell == Some(true) {
            return Ok(format!("/bin/sh -c {}", shell_words::quote(&line)));
        }
        if let Some(var) = shell_variable(&line)
            && !runs_a_shell(&line)
        {
            return Err(self.src.err(
                &v.span(),
                format!("command_line uses ${var}, but Batch runs a command line without a shell, so it would stay as written: set shell = true, or start it with /bin/sh -c '...'"),
            ));
        }
        Ok(line)
    }

    pub(super) fn environment(
        &self,
        env: &BTreeMap<Spanned<String>, Spanned<String>>,
        vars: &Vars,
    ) -> Result<Vec<(String, String)>, SpecError> {
        env.iter()
            .map(|(k, v)| {
                let name = k.get_ref();
                let ok = !name.is_empty()
                    && !name.starts_with(|c: char| c.is_ascii_digit())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !ok {
                    return Err(self.src.err(&k.span(), format!("environment variable name `{name}` is not valid: use letters, digits and _, not starting with a digit")));
                }
                if name.starts_with("AZ_BATCH_") {
                    return Err(self.src.err(&k.span(), format!("environment variable {name} is set by Batch on every node: choose another name")));
                }
                Ok((name.clone(), self.render(v, &v.span(), vars, "environment")?))
            })
            .collect()
    }

    pub(super) fn resource(
        &mut self,
        f: &Spanned<RawFile>,
        vars: &Vars,
    ) -> Result<ResourceSpec, SpecError> {
        let outer = f.span();
        let r = f.get_ref();
        let set = [r.file.is_some(), r.url.is_some(), r.container.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if set != 1 {
            return Err(self.src.err(
                &outer,
                "a resource file takes exactly one of file (a local file), url or container",
            ));
        }
        if r.prefix.is_some() && r.container.is_none() {
            let p = r.prefix.as_ref().map(|p| p.span()).unwrap_or(outer.clone());
            return Err(self.src.err(&p, "prefix selects blobs of a container: add container = \"output\" (or \"input\", \"application\")"));
        }
        let path = self.relative_path(r.path.as_ref(), &outer, vars)?;
        if let Some(file) = &r.file {
            let rel = self.render(file, &outer, vars, "file")?;
            let local = self.base.join(&rel);
            let node_path = path.unwrap_or_else(|| blob_name(&local));
            let idx = self.add_upload(
                Upload {
                    local,
                    role: Role::Application,
                    blob: node_path.clone(),
                    what: "resource file",
                    text: false,
                    checked: false,
                    written: Some(rel),
                },
                Some(span_of(file, &outer)),
            )?;
            return Ok(ResourceSpec {
                source: FileSource::Upload(idx),
                path: Some(node_path),
            });
        }
        if let Some(url) = &r.url {
            let u = self.render(url, &outer, vars, "url")?;
            let parsed = url::Url::parse(&u)
                .ok()
                .filter(|p| matches!(p.scheme(), "http" | "https"));
            let Some(parsed) = parsed else {
                return Err(self.src.err(
                    &span_of(url, &outer),
                    format!("url {u:?} is not an http(s) URL the nodes can download"),
                ));
            };
            let node_path = match path {
                Some(p) => p,
                None => match parsed.path_segments().and_then(|mut s| s.next_back()).filter(|s| !s.is_empty()) {
                    Some(last) => last.to_string(),
                    None => return Err(self.src.err(&span_of(url, &outer), "the url ends with no file name: add path = \"name\" for the file on the node")),
                },
            };
            return Ok(ResourceSpec {
                source: FileSource::Url(u),
                path: Some(node_path),
            });
        }
        let c = r.container.as_ref().expect("one of the three is set");
        let role = Role::ALL.into_iter().find(|x| x.name() == c.get_ref()).ok_or_else(|| {
            let names: Vec<String> = Role::ALL.iter().map(|r| r.name().to_string()).collect();
            let near = nearest(c.get_ref(), &names).map(|n| format!("did you mean \"{n}\"? ")).unwrap_or_default();
            self.src.err(&span_of(c, &outer), format!("container {:?} is not one of the workload's: {near}use \"application\", \"input\" or \"output\"", c.get_ref()))
        })?;
        let prefix = match &r.prefix {
            Some(p) => self.render(p, &outer, vars, "prefix")?,
            None => String::new(),
        };
        Ok(ResourceSpec {
            source: FileSource::Container { role, prefix },
            path,
        })
    }

    pub(super) fn output(
        &self,
        o: &Spanned<RawOutput>,
        vars: &Vars,
    ) -> Result<OutputSpec, SpecError> {
        let outer = o.span();
        let r = o.get_ref();
        let pattern = self.render(&r.pattern, &outer, vars, "outputs")?;
        if pattern.is_empty() || pattern.starts_with('/') {
            return Err(self.src.err(&span_of(&r.pattern, &outer), format!("output pattern {pattern:?} must be relative to the task's working directory, e.g. \"out/*.csv\"")));
        }
        let path = self.relative_path(r.path.as_ref(), &outer, vars)?;
        let upload = match &r.upload {
            Some(u) => self.service_value(
                u,
                "upload",
                UploadCondition::KNOWN,
                |v| v.as_str(),
                UploadCondition::parse,
            )?,
            None => UploadCondition::TaskSuccess,
        };
        Ok(OutputSpec {
            pattern,
            path,
            upload,
        })
    }

    /// A `path` key rendered and checked to stay under the task's working directory.
    fn relative_path(
        &self,
        path: Option<&Spanned<String>>,
        outer: &Range<usize>,
        vars: &Vars,
    ) -> Result<Option<String>, SpecError> {
        let Some(p) = path else {
            return Ok(None);
        };
        let rendered = self.render(p, outer, vars, "path")?;
        check_relative(&rendered).map_err(|why| {
            self.src
                .err(&span_of(p, outer), format!("path {rendered:?} {why}"))
        })?;
        Ok(Some(rendered))
    }

    /// Adds a file to upload, once: the same file at the same blob is shared; two files at
    /// one blob name are refused.
    pub(super) fn add_upload(
        &mut self,
        mut u: Upload,
        span: Option<Range<usize>>,
    ) -> Result<usize, SpecError> {
        let at = |e: SpecError| match &span {
            Some(s) => self.src.err(s, e),
            None => e,
        };
        if let Some(i) = self
            .uploads
            .iter()
            .position(|x| x.role == u.role && x.blob == u.blob)
        {
            if self.uploads[i].local != u.local {
                return Err(at(SpecError(format!(
                    "two {}s are both named {}: blob names must be unique; rename one",
                    u.what, u.blob
                ))));
            }
            if u.text && !self.uploads[i].text {
                // Named again, now as text: checked as text where this use is.
                u.checked = span.is_some();
                if u.checked {
                    u.check().map_err(at)?;
                }
                self.uploads[i] = u;
            }
            return Ok(i);
        }
        if span.is_some() {
            u.check().map_err(at)?;
            u.checked = true;
        }
        self.uploads.push(u);
        Ok(self.uploads.len() - 1)
    }
}

/// A path on the node or in a container: relative, without `..`.
fn check_relative(p: &str) -> Result<(), &'static str> {
    if p.starts_with('/') || p.starts_with('\\') {
        return Err("must be relative: it is placed under the task's working directory");
    }
    if p.split(['/', '\\']).any(|c| c == "..") {
        return Err("must stay inside the task's working directory: remove \"..\"");
    }
    Ok(())
}

/// The first `$NAME` or `${NAME}` a command line uses, if any.
fn shell_variable(line: &str) -> Option<String> {
    let b = line.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if *c != b'$' {
            continue;
        }
        let rest = &line[i + 1..];
        let rest = rest.strip_prefix('{').unwrap_or(rest);
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return Some(name);
        }
    }
    None
}

/// Whether a command line starts a shell that expands variables (`/bin/bash -c ...`).
fn runs_a_shell(line: &str) -> bool {
    let first = shell_words::split(line)
        .ok()
        .and_then(|w| w.into_iter().next())
        .unwrap_or_default();
    let prog = first.rsplit('/').next().unwrap_or("");
    matches!(prog, "sh" | "bash" | "dash" | "zsh" | "ksh" | "ash")
}

#[cfg(test)]
mod tests {
    use super::super::resolve::group_name;
    use super::*;

    #[test]
    fn shells_and_variables() {
        assert_eq!(
            shell_variable("python3 $AZ_BATCH_NODE_SHARED_DIR/x.py").as_deref(),
            Some("AZ_BATCH_NODE_SHARED_DIR")
        );
        assert_eq!(shell_variable("echo ${HOME}/x").as_deref(), Some("HOME"));
        assert_eq!(shell_variable("echo 5$ and $1"), None);
        assert!(runs_a_shell("/bin/bash -c 'echo $HOME'"));
        assert!(runs_a_shell("sh -c x"));
        assert!(!runs_a_shell("python3 -c x"));
        assert_eq!(group_name("count-{stem}"), "count");
        assert_eq!(group_name("{stem}"), "{stem}");
        assert_eq!(group_name("total"), "total");
    }
}
