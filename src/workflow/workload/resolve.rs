//! From the file as written to the [`WorkloadSpec`] a run executes: defaults filled in,
//! placeholders rendered, globs expanded, files collected for upload, and every value checked
//! where it is written.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::deps::{self, Pending};
use super::inputs::{self, GlobError, Input};
use super::raw::{RawExitOptions, RawPool, RawStartTask, RawTask, RawWorkload};
use super::template::{self, RenderError};
use super::{Source, nearest};
use crate::azure::models::{
    DependencyAction, ExitOptions, JobAction, OnAllTasksComplete, OnTaskFailure, TaskDependencies,
};
use crate::workflow::spec::{
    Containers, Disposal, FileSource, Image, JobSpec, PoolSpec, ResourceSpec, Role, SpecError,
    StartTaskSpec, TaskSpec, Upload, WorkloadOverrides, WorkloadSpec, blob_name, validate_batch_id,
    validate_container_name,
};

/// Placeholders every generated task knows.
pub(super) const INPUT_PLACEHOLDERS: [&str; 4] = ["input", "name", "stem", "index"];

/// What a placeholder can stand for in one task.
pub(super) struct Vars<'a> {
    pub(super) params: &'a BTreeMap<String, String>,
    /// For a generated task: its input and its position (from 1).
    pub(super) input: Option<(&'a Input, usize)>,
}

impl Vars<'_> {
    pub(super) fn get(&self, name: &str) -> Option<String> {
        if let Some((input, index)) = self.input {
            let file = blob_name(Path::new(&input.rel));
            match name {
                "input" => return Some(input.rel.clone()),
                "name" => return Some(file),
                "stem" => {
                    return Some(
                        Path::new(&file)
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    );
                }
                "index" => return Some(index.to_string()),
                _ => {}
            }
        }
        self.params.get(name).cloned()
    }

    pub(super) fn known(&self) -> Vec<String> {
        let mut k: Vec<String> = Vec::new();
        if self.input.is_some() {
            k.extend(INPUT_PLACEHOLDERS.iter().map(|s| s.to_string()));
        }
        k.extend(self.params.keys().cloned());
        k
    }
}

pub(super) struct Resolver<'a> {
    pub(super) src: &'a Source<'a>,
    pub(super) base: &'a Path,
    overrides: &'a WorkloadOverrides,
    params: BTreeMap<String, String>,
    pub(super) uploads: Vec<Upload>,
    /// Task ids made so far, with how each was made (for duplicates).
    ids: HashMap<String, (Range<usize>, Option<String>)>,
    slots_per_node: u32,
}

/// The span of a value, or of its enclosing value when it was written in a short form
/// (a plain string for a resource file or an output).
pub(super) fn span_of<T>(v: &Spanned<T>, outer: &Range<usize>) -> Range<usize> {
    if v.span() == (0..0) {
        outer.clone()
    } else {
        v.span()
    }
}

impl<'a> Resolver<'a> {
    pub fn new(src: &'a Source<'a>, base: &'a Path, overrides: &'a WorkloadOverrides) -> Self {
        Resolver {
            src,
            base,
            overrides,
            params: BTreeMap::new(),
            uploads: Vec::new(),
            ids: HashMap::new(),
            slots_per_node: 1,
        }
    }

    pub fn run(mut self, raw: RawWorkload) -> Result<WorkloadSpec, SpecError> {
        let name = match &raw.name {
            Some(n) if n.get_ref().trim().is_empty() => {
                return Err(self
                    .src
                    .err(&n.span(), "name is empty: give the workload a name"));
            }
            Some(n) => n.get_ref().clone(),
            None => Path::new(self.src.origin)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "workload".into()),
        };
        self.params(&raw)?;
        let containers = self.containers(&raw)?;
        let output_dir = raw
            .storage
            .output_dir
            .as_ref()
            .map(|d| PathBuf::from(d.get_ref()))
            .unwrap_or_else(|| PathBuf::from("batchdeck-output"));
        let (pool_id, pool, reuse) = self.pool(&raw.pool)?;
        self.slots_per_node = pool.task_slots_per_node;
        let (job_id, job) = self.job(&raw)?;

        let generators: Vec<usize> = (0..raw.tasks.len())
            .filter(|i| raw.tasks[*i].get_ref().inputs.is_some())
            .collect();
        if !self.overrides.inputs.is_empty() && generators.len() != 1 {
            return Err(SpecError(format!(
                "--input replaces the inputs of the workload's generated tasks, but it has {} [[tasks]] with inputs: name the inputs in the workload file instead",
                generators.len()
            )));
        }
        let mut tasks = Vec::new();
        let mut pending = Vec::new();
        for t in &raw.tasks {
            self.tasks(t, &job, &mut tasks, &mut pending)?;
        }
        if tasks.is_empty() {
            return Err(SpecError(format!(
                "{}: the workload has no tasks: add a [[tasks]] table with an id and a command_line",
                self.src.origin
            )));
        }
        deps::resolve(self.src, &mut tasks, pending)?;

        // Resource files are uploaded before inputs, as the tutorial does.
        let mut order: Vec<usize> = (0..self.uploads.len()).collect();
        order.sort_by_key(|i| self.uploads[*i].role);
        let new_index: HashMap<usize, usize> =
            order.iter().enumerate().map(|(n, old)| (*old, n)).collect();
        let remap = |files: &mut Vec<ResourceSpec>| {
            for f in files {
                if let FileSource::Upload(i) = &mut f.source {
                    *i = new_index[i];
                }
            }
        };
        let mut pool = pool;
        if let Some(st) = &mut pool.start_task {
            remap(&mut st.resource_files);
        }
        for t in &mut tasks {
            remap(&mut t.resource_files);
        }
        let uploads = order.iter().map(|i| self.uploads[*i].clone()).collect();

        Ok(WorkloadSpec {
            name,
            pool_id,
            job_id,
            pool,
            job,
            tasks,
            uploads,
            containers,
            output_dir,
            force: false,
            timeout: Duration::from_secs(30 * 60),
            reuse_pool: reuse,
            journal_dir: None,
            delete_job: Disposal::Ask,
            delete_pool: Disposal::Ask,
            keep_containers_for_retries: false,
        })
    }

    fn params(&mut self, raw: &RawWorkload) -> Result<(), SpecError> {
        for (k, v) in &raw.params {
            let name = k.get_ref();
            if !template::is_name(name) {
                return Err(self.src.err(
                    &k.span(),
                    format!("parameter name `{name}` is not a placeholder name: use letters, digits and _, starting with a letter"),
                ));
            }
            if INPUT_PLACEHOLDERS.contains(&name.as_str()) {
                return Err(self.src.err(
                    &k.span(),
                    format!("parameter `{name}` would hide the placeholder {{{name}}} of generated tasks: rename it"),
                ));
            }
            self.params.insert(name.clone(), v.get_ref().0.clone());
        }
        for (name, value) in &self.overrides.params {
            if !self.params.contains_key(name) {
                let known: Vec<String> = self.params.keys().cloned().collect();
                let hint = match nearest(name, &known) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None if known.is_empty() => "it has none".into(),
                    None => format!("its parameters: {}", known.join(", ")),
                };
                return Err(SpecError(format!(
                    "--set {name}=...: the workload has no parameter `{name}` ({hint}); add it under [params] in the workload file"
                )));
            }
            self.params.insert(name.clone(), value.clone());
        }
        Ok(())
    }

    fn containers(&self, raw: &RawWorkload) -> Result<Containers, SpecError> {
        let d = Containers::default();
        let s = &raw.storage;
        let mut seen: HashMap<String, Range<usize>> = HashMap::new();
        let mut pick = |v: &Option<Spanned<String>>,
                        default: String|
         -> Result<String, SpecError> {
            let Some(v) = v else { return Ok(default) };
            validate_container_name(v.get_ref()).map_err(|e| self.src.err(&v.span(), e))?;
            if seen.insert(v.get_ref().clone(), v.span()).is_some() {
                return Err(self.src.err(
                    &v.span(),
                    format!("container {:?} is named twice: the application, input and output containers must differ", v.get_ref()),
                ));
            }
            Ok(v.get_ref().clone())
        };
        Ok(Containers {
            application: pick(&s.application_container, d.application)?,
            input: pick(&s.input_container, d.input)?,
            output: pick(&s.output_container, d.output)?,
        })
    }

    fn pool(&mut self, p: &RawPool) -> Result<(String, PoolSpec, bool), SpecError> {
        validate_batch_id("pool id", p.id.get_ref()).map_err(|e| self.src.err(&p.id.span(), e))?;
        let dedicated = p.dedicated_nodes.as_ref();
        let spot = p.spot_nodes.as_ref();
        let (d, s) = (
            dedicated.map_or(if spot.is_some() { 0 } else { 1 }, |v| *v.get_ref()),
            spot.map_or(0, |v| *v.get_ref()),
        );
        if d + s == 0 || d + s > 1000 {
            let span = dedicated.or(spot).map(|v| v.span()).unwrap_or(p.id.span());
            return Err(self.src.err(
                &span,
                format!(
                    "the pool has {} nodes: use 1 to 1000 dedicated_nodes and spot_nodes in all",
                    d + s
                ),
            ));
        }
        let slots = match &p.task_slots_per_node {
            Some(v) if !(1..=256).contains(v.get_ref()) => {
                return Err(self.src.err(
                    &v.span(),
                    format!(
                        "task_slots_per_node {} is out of range: use 1 to 256",
                        v.get_ref()
                    ),
                ));
            }
            Some(v) => *v.get_ref(),
            None => 1,
        };
        let image = match &p.image {
            Some(i) => Image {
                publisher: i.publisher.clone(),
                offer: i.offer.clone(),
                sku: i.sku.clone(),
                version: i.version.clone().unwrap_or_else(|| "latest".into()),
                node_agent_sku_id: i.node_agent_sku.clone(),
            },
            None => Image::default(),
        };
        let start_task = p
            .start_task
            .as_ref()
            .map(|st| self.start_task(st))
            .transpose()?;
        if let Some(script) = &self.overrides.task_script {
            self.replace_task_script(start_task.as_ref(), script)?;
        }
        Ok((
            p.id.get_ref().clone(),
            PoolSpec {
                vm_size: p
                    .vm_size
                    .as_ref()
                    .map(|v| v.get_ref().clone())
                    .unwrap_or_else(|| "STANDARD_D2S_V3".into()),
                image,
                dedicated_nodes: d,
                spot_nodes: s,
                task_slots_per_node: slots,
                start_task,
            },
            p.reuse.unwrap_or(false),
        ))
    }

    /// `--task-script`: the start task's first local file is this one (same name on the node).
    fn replace_task_script(
        &mut self,
        st: Option<&StartTaskSpec>,
        script: &Path,
    ) -> Result<(), SpecError> {
        let index = st
            .into_iter()
            .flat_map(|s| &s.resource_files)
            .find_map(|f| match f.source {
                FileSource::Upload(i) => Some(i),
                _ => None,
            })
            .ok_or_else(|| {
                SpecError("--task-script replaces the file the start task copies, but the workload's start task has no local resource file".into())
            })?;
        let u = &mut self.uploads[index];
        u.local = script.to_path_buf();
        // Named by the flag now, not as the workload file writes it.
        u.written = None;
        u.what = "task script";
        u.checked = false;
        Ok(())
    }

    fn start_task(&mut self, st: &RawStartTask) -> Result<StartTaskSpec, SpecError> {
        let vars = Vars {
            params: &self.params.clone(),
            input: None,
        };
        let command_line = self.command_line(&st.command_line, st.shell, &vars)?;
        let resource_files = st
            .resource_files
            .iter()
            .map(|f| self.resource(f, &vars))
            .collect::<Result<_, _>>()?;
        let environment = self.environment(&st.environment, &vars)?;
        let max_retries = self.retries(st.max_retries.as_ref())?.unwrap_or(0);
        Ok(StartTaskSpec {
            command_line,
            resource_files,
            environment,
            wait_for_success: st.wait_for_success.unwrap_or(true),
            max_retries,
        })
    }

    fn job(&self, raw: &RawWorkload) -> Result<(String, JobSpec), SpecError> {
        let j = &raw.job;
        validate_batch_id("job id", j.id.get_ref()).map_err(|e| self.src.err(&j.id.span(), e))?;
        if let Some(p) = &j.priority
            && !(-1000..=1000).contains(p.get_ref())
        {
            return Err(self.src.err(
                &p.span(),
                format!(
                    "priority {} is out of range: use -1000 (lowest) to 1000 (highest)",
                    p.get_ref()
                ),
            ));
        }
        let on_all_tasks_complete = j
            .on_all_tasks_complete
            .as_ref()
            .map(|v| {
                self.service_value(
                    v,
                    "on_all_tasks_complete",
                    OnAllTasksComplete::KNOWN,
                    |v| v.as_str(),
                    OnAllTasksComplete::parse,
                )
            })
            .transpose()?;
        let on_task_failure = j
            .on_task_failure
            .as_ref()
            .map(|v| {
                self.service_value(
                    v,
                    "on_task_failure",
                    OnTaskFailure::KNOWN,
                    |v| v.as_str(),
                    OnTaskFailure::parse,
                )
            })
            .transpose()?;
        Ok((
            j.id.get_ref().clone(),
            JobSpec {
                priority: j.priority.as_ref().map(|p| *p.get_ref()),
                max_wall_clock_time: self.duration(j.max_wall_clock_time.as_ref())?,
                max_task_retries: self.retries(j.max_task_retries.as_ref())?,
                on_all_tasks_complete,
                on_task_failure,
            },
        ))
    }

    /// The tasks of one `[[tasks]]` entry: one, or one per input.
    fn tasks(
        &mut self,
        t: &Spanned<RawTask>,
        job: &JobSpec,
        out: &mut Vec<TaskSpec>,
        pending: &mut Vec<Pending>,
    ) -> Result<(), SpecError> {
        let raw = t.get_ref();
        let params = self.params.clone();
        let inputs: Vec<Input> = match &raw.inputs {
            None => Vec::new(),
            Some(_) if !self.overrides.inputs.is_empty() => self
                .overrides
                .inputs
                .iter()
                .map(|p| Input {
                    local: p.clone(),
                    rel: blob_name(p),
                })
                .collect(),
            Some(glob) => {
                let vars = Vars {
                    params: &params,
                    input: None,
                };
                let pattern = self.render(glob, &glob.span(), &vars, "inputs")?;
                inputs::expand(self.base, &pattern).map_err(|e| {
                    let why = match e {
                        GlobError::NoFolder(f) => format!("its folder {} does not exist", f.display()),
                        GlobError::NoMatch { looked_in } => {
                            format!("it matches no file in {}", looked_in.display())
                        }
                    };
                    self.src.err(
                        &glob.span(),
                        format!("inputs {pattern:?}: {why}; fix the pattern (relative to the workload file's folder) or add the files"),
                    )
                })?
            }
        };
        let instances: Vec<Option<(&Input, usize)>> = if raw.inputs.is_some() {
            inputs
                .iter()
                .enumerate()
                .map(|(i, x)| Some((x, i + 1)))
                .collect()
        } else {
            vec![None]
        };
        let group = group_name(raw.id.get_ref());
        for input in instances {
            let vars = Vars {
                params: &params,
                input,
            };
            let id = self.task_id(raw, &vars)?;
            let mut resource_files = Vec::new();
            if let Some((inp, _)) = input {
                let idx = self.add_upload(
                    Upload {
                        local: inp.local.clone(),
                        role: Role::Input,
                        blob: inp.rel.clone(),
                        what: "input file",
                        text: raw.text_inputs.unwrap_or(false),
                        checked: false,
                        written: None,
                    },
                    raw.inputs
                        .as_ref()
                        .filter(|_| self.overrides.inputs.is_empty())
                        .map(|g| g.span()),
                )?;
                resource_files.push(ResourceSpec {
                    source: FileSource::Upload(idx),
                    path: Some(inp.rel.clone()),
                });
            }
            for f in &raw.resource_files {
                resource_files.push(self.resource(f, &vars)?);
            }
            let outputs = raw
                .outputs
                .iter()
                .map(|o| self.output(o, &vars))
                .collect::<Result<_, _>>()?;
            let required_slots = match &raw.required_slots {
                Some(v) if *v.get_ref() == 0 || *v.get_ref() > self.slots_per_node => {
                    return Err(self.src.err(
                        &v.span(),
                        format!(
                            "required_slots {} cannot run on this pool: use 1 to its task_slots_per_node ({})",
                            v.get_ref(),
                            self.slots_per_node
                        ),
                    ));
                }
                v => v.as_ref().map(|v| *v.get_ref()),
            };
            let on_failure = raw
                .on_failure
                .as_ref()
                .map(|o| self.exit_options(o, t, job))
                .transpose()?;
            pending.push(Pending {
                task: out.len(),
                ids: raw
                    .depends_on
                    .iter()
                    .map(|d| Ok((self.render(d, &d.span(), &vars, "depends_on")?, d.span())))
                    .collect::<Result<_, SpecError>>()?,
                ranges: raw
                    .depends_on_ranges
                    .iter()
                    .map(|r| (*r.get_ref(), r.span()))
                    .collect(),
            });
            out.push(TaskSpec {
                id,
                group: group.clone(),
                command_line: self.command_line(&raw.command_line, raw.shell, &vars)?,
                resource_files,
                environment: self.environment(&raw.environment, &vars)?,
                outputs,
                max_retries: self.retries(raw.max_retries.as_ref())?,
                max_wall_clock_time: self.duration(raw.max_wall_clock_time.as_ref())?,
                retention_time: self.duration(raw.retention_time.as_ref())?,
                required_slots,
                depends_on: TaskDependencies::default(),
                on_failure,
            });
        }
        Ok(())
    }

    /// A task's id from its template (placeholder values made id-safe), checked and unique.
    fn task_id(&mut self, raw: &RawTask, vars: &Vars) -> Result<String, SpecError> {
        let span = raw.id.span();
        let id = self.render_with(&raw.id, &span, vars, "id", &|v| {
            v.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        })?;
        let from = vars.input.map(|(i, _)| i.local.display().to_string());
        validate_batch_id("task id", &id).map_err(|e| {
            let made = from
                .as_ref()
                .map(|f| format!(" (made from {f})"))
                .unwrap_or_default();
            self.src.err(&span, format!("{e}{made}"))
        })?;
        if let Some((_, other)) = self.ids.get(&id) {
            let msg = match (other, &from) {
                // Two `--input` files of one name: uploaded by name, their blobs would
                // collide before their ids do.
                (Some(a), Some(b)) if !self.overrides.inputs.is_empty() && short(a) == short(b) => {
                    format!(
                        "two input files are both named {}: blob names must be unique; rename one",
                        short(a)
                    )
                }
                (Some(a), Some(b)) => format!(
                    "input files {} and {} would both be task {id}: ids made by {:?} must differ; rename one",
                    short(a),
                    short(b),
                    raw.id.get_ref()
                ),
                _ => format!(
                    "task id {id} is used twice: task ids must be unique in a job; rename one"
                ),
            };
            return Err(match (self.overrides.inputs.is_empty(), &from) {
                (false, Some(_)) => SpecError(msg),
                _ => self.src.err(&span, msg),
            });
        }
        self.ids.insert(id.clone(), (span, from));
        Ok(id)
    }

    pub(super) fn render(
        &self,
        v: &Spanned<String>,
        outer: &Range<usize>,
        vars: &Vars,
        key: &str,
    ) -> Result<String, SpecError> {
        self.render_with(v, outer, vars, key, &|s| s)
    }

    fn render_with(
        &self,
        v: &Spanned<String>,
        outer: &Range<usize>,
        vars: &Vars,
        key: &str,
        fix: &dyn Fn(String) -> String,
    ) -> Result<String, SpecError> {
        let span = span_of(v, outer);
        template::render(v.get_ref(), &|name| vars.get(name).map(fix)).map_err(|e| match e {
            RenderError::Syntax(e) => self.src.err_in(&span, v.get_ref(), e.offset, format!("{key}: {}", e.message)),
            RenderError::Unknown { name, offset } => {
                let known = vars.known();
                let hint = if vars.input.is_none() && INPUT_PLACEHOLDERS.contains(&name) {
                    format!("{{{name}}} exists only in tasks generated from inputs = \"...\"")
                } else {
                    let near = nearest(name, &known)
                        .map(|n| format!("did you mean {{{n}}}? "))
                        .unwrap_or_default();
                    let list: Vec<String> = known.iter().map(|k| format!("{{{k}}}")).collect();
                    let list = if list.is_empty() { "none".to_string() } else { list.join(", ") };
                    format!("{near}known here: {list}; add parameters under [params], or write {{{{ and }}}} for literal braces")
                };
                self.src.err_in(&span, v.get_ref(), offset, format!("unknown placeholder {{{name}}} in {key}: {hint}"))
            }
        })
    }

    fn exit_options(
        &self,
        o: &RawExitOptions,
        t: &Spanned<RawTask>,
        job: &JobSpec,
    ) -> Result<ExitOptions, SpecError> {
        let dependency_action = o
            .dependency_action
            .as_ref()
            .map(|v| {
                self.service_value(
                    v,
                    "dependency_action",
                    DependencyAction::KNOWN,
                    |v| v.as_str(),
                    DependencyAction::parse,
                )
            })
            .transpose()?;
        let job_action = match &o.job_action {
            Some(v) => {
                let a = self.service_value(
                    v,
                    "job_action",
                    JobAction::KNOWN,
                    |v| v.as_str(),
                    JobAction::parse,
                )?;
                if a != JobAction::None
                    && job.on_task_failure != Some(OnTaskFailure::PerformExitOptionsJobAction)
                {
                    return Err(self.src.err(&v.span(), format!("job_action {:?} takes effect only when the job says so: add on_task_failure = \"performexitoptionsjobaction\" under [job]", a.as_str())));
                }
                Some(a)
            }
            None => None,
        };
        let _ = t;
        Ok(ExitOptions {
            job_action,
            dependency_action,
        })
    }

    /// One of the service's documented values for `key`, or an error naming the nearest.
    pub(super) fn service_value<T: Clone>(
        &self,
        v: &Spanned<String>,
        key: &str,
        known: &[T],
        name: fn(&T) -> &str,
        parse: fn(&str) -> T,
    ) -> Result<T, SpecError> {
        let names: Vec<String> = known.iter().map(|k| name(k).to_string()).collect();
        if names.iter().any(|n| n == v.get_ref()) {
            return Ok(parse(v.get_ref()));
        }
        let near = nearest(v.get_ref(), &names)
            .map(|n| format!("did you mean \"{n}\"? "))
            .unwrap_or_default();
        let list: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        Err(self.src.err(
            &v.span(),
            format!(
                "{key} {:?} is not a value the service knows: {near}use {}",
                v.get_ref(),
                list.join(" or ")
            ),
        ))
    }

    fn duration(&self, v: Option<&Spanned<String>>) -> Result<Option<Duration>, SpecError> {
        v.map(|v| crate::util::parse_duration(v.get_ref()).map_err(|e| self.src.err(&v.span(), e)))
            .transpose()
    }

    fn retries(&self, v: Option<&Spanned<i32>>) -> Result<Option<i32>, SpecError> {
        match v {
            Some(v) if !(-1..=100).contains(v.get_ref()) => Err(self.src.err(
                &v.span(),
                format!(
                    "{} retries is out of range: use 0 to 100, or -1 for no limit",
                    v.get_ref()
                ),
            )),
            v => Ok(v.map(|v| *v.get_ref())),
        }
    }
}

/// The name a generated group shows as: the literal start of its id template.
pub(super) fn group_name(template: &str) -> String {
    let head = template.split('{').next().unwrap_or("");
    let head = head.trim_end_matches(['-', '_', '.']);
    if head.is_empty() {
        template.to_string()
    } else {
        head.to_string()
    }
}

/// A path as a user wrote it, short: its file name.
fn short(p: &str) -> String {
    blob_name(Path::new(p))
}
