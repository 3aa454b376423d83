//! Request bodies as the service's OData JSON reader takes them, and durations as it writes
//! them.
//!
//! The reader converts a JSON string to the property's type when the string is a valid
//! literal of it (`"targetDedicatedNodes": "1"`, `"waitForSuccess": "true"`, as the Azure CLI
//! sends them), and refuses anything it cannot convert, from every operation alike: 400
//! `InvalidRequestBody` naming the property. Which properties are numbers, booleans and
//! durations was read off the REST specification's models (every api-version from
//! 2018-12-01.8.0 on; a name has one type in all of them).
//!
//! Durations are .NET TimeSpans in ISO 8601 (`XmlConvert`): read in any valid form
//! (`PT01H00M00S`, `P1Y` as 365 days) and written in the canonical one (`PT1H`, `P7D`,
//! `P10675199DT2H48M5.4775807S` for the largest).

use serde_json::{Map, Number, Value};

use crate::emulator::batch::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int32,
    Bool,
    Duration,
}

/// The type of a request property, by its name.
fn kind(name: &str) -> Option<Kind> {
    Some(match name {
        "backendPort"
        | "code"
        | "diskSizeGB"
        | "end"
        | "frontendPort"
        | "frontendPortRangeEnd"
        | "frontendPortRangeStart"
        | "gid"
        | "lun"
        | "maxBatchInstancePercent"
        | "maxParallelTasks"
        | "maxTaskRetryCount"
        | "maxTasksPerNode"
        | "maxUnhealthyInstancePercent"
        | "maxUnhealthyUpgradedInstancePercent"
        | "numberOfInstances"
        | "priority"
        | "requiredSlots"
        | "start"
        | "targetDedicatedNodes"
        | "targetLowPriorityNodes"
        | "taskSlotsPerNode"
        | "uid" => Kind::Int32,
        "allowLowPriorityNode"
        | "allowTaskPreemption"
        | "autoUpgradeMinorVersion"
        | "disableAutomaticRollback"
        | "enableAcceleratedNetworking"
        | "enableAutoScale"
        | "enableAutomaticOSUpgrade"
        | "enableAutomaticUpdates"
        | "enableAutomaticUpgrade"
        | "enableCrossZoneUpgrade"
        | "enableInterNodeCommunication"
        | "enabled"
        | "encryptionAtHost"
        | "isAdmin"
        | "isReadOnly"
        | "keepAlive"
        | "killJobOnCompletion"
        | "osRollingUpgradeDeferral"
        | "prioritizeUnhealthyInstances"
        | "rerunOnNodeRebootAfterSuccess"
        | "rollbackFailedInstancesOnPolicyBreach"
        | "rotationToLatestKeyVersionEnabled"
        | "runExclusive"
        | "secureBootEnabled"
        | "skipWithdrawFromVNet"
        | "useRollingUpgradePolicy"
        | "usesTaskDependencies"
        | "vTpmEnabled"
        | "waitForSuccess"
        | "writeAcceleratorEnabled" => Kind::Bool,
        "autoScaleEvaluationInterval"
        | "maxWallClockTime"
        | "pauseTimeBetweenBatches"
        | "recurrenceInterval"
        | "resizeTimeout"
        | "retentionTime"
        | "startWindow" => Kind::Duration,
        _ => return None,
    })
}

/// Objects whose keys are the user's, not properties (a tag named `priority` is a string).
fn free_form(name: &str) -> bool {
    matches!(name, "resourceTags" | "userAssignedIdentities")
}

fn cannot_convert(path: &str, literal: &str, edm: &str) -> ApiError {
    ApiError::bad_body(format!(
        "Cannot convert the literal '{literal}' to the expected type '{edm}' at {path}."
    ))
}

/// Converts, in place, every typed property of a request body to its type, and durations to
/// their canonical form; `Err` names the first property that cannot be converted.
pub fn normalize(body: &mut Value) -> Result<(), ApiError> {
    walk(body, "")
}

fn walk(v: &mut Value, path: &str) -> Result<(), ApiError> {
    match v {
        Value::Object(o) => walk_object(o, path),
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                walk(x, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn walk_object(o: &mut Map<String, Value>, path: &str) -> Result<(), ApiError> {
    for (k, x) in o.iter_mut() {
        let here = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        if free_form(k) || x.is_null() {
            continue;
        }
        match kind(k) {
            Some(kind) => *x = convert(kind, x, &here)?,
            None => walk(x, &here)?,
        }
    }
    Ok(())
}

fn literal(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn convert(kind: Kind, v: &Value, path: &str) -> Result<Value, ApiError> {
    match kind {
        Kind::Int32 => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                // XmlConvert: surrounding whitespace allowed, an optional sign, digits.
                Value::String(s) => {
                    let t = s.trim();
                    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
                    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                        t.parse::<i64>().ok()
                    } else {
                        None
                    }
                }
                _ => None,
            };
            n.and_then(|n| i32::try_from(n).ok())
                .map(|n| Value::Number(Number::from(n)))
                .ok_or_else(|| cannot_convert(path, &literal(v), "Edm.Int32"))
        }
        Kind::Bool => match v {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::String(s) => match s.trim() {
                "true" | "1" => Ok(Value::Bool(true)),
                "false" | "0" => Ok(Value::Bool(false)),
                _ => Err(cannot_convert(path, s, "Edm.Boolean")),
            },
            other => Err(cannot_convert(path, &literal(other), "Edm.Boolean")),
        },
        Kind::Duration => match v {
            Value::String(s) => Duration::parse(s)
                .map(|d| Value::String(d.to_string()))
                .ok_or_else(|| cannot_convert(path, s, "Edm.Duration")),
            other => Err(cannot_convert(path, &literal(other), "Edm.Duration")),
        },
    }
}

/// The ticks and the number of parts of one half of a duration (`1Y2D` or `3H4.5S`): numbers
/// each followed by one of `units` in their order, a fraction only on the last unit (seconds)
/// when `seconds` says so.
fn scan_units(part: &str, units: &[(char, i128)], seconds: bool) -> Option<(i128, usize)> {
    let mut ticks: i128 = 0;
    let mut parts = 0;
    let mut next_unit = 0;
    let mut num = String::new();
    for c in part.chars() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let pos = units.iter().position(|(u, _)| *u == c)?;
        if pos < next_unit || num.is_empty() {
            return None;
        }
        next_unit = pos + 1;
        let last = pos == units.len() - 1;
        let (int, frac) = match num.split_once('.') {
            Some((i, f)) if seconds && last && !i.is_empty() && !f.is_empty() => (i, f),
            Some(_) => return None,
            None => (num.as_str(), ""),
        };
        if frac.len() > 7 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: i128 = int.parse().ok()?;
        ticks = ticks.checked_add(whole.checked_mul(units[pos].1)?)?;
        if !frac.is_empty() {
            ticks += format!("{frac:0<7}").parse::<i128>().ok()?;
        }
        parts += 1;
        num.clear();
    }
    num.is_empty().then_some((ticks, parts))
}

/// A .NET TimeSpan: ticks of 100 ns, as the service keeps durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration {
    pub ticks: i64,
}

const TICKS_PER_SECOND: i64 = 10_000_000;

impl Duration {
    /// Reads an ISO 8601 duration as `XmlConvert.ToTimeSpan` does: `[-]P[nY][nM][nD]
    /// [T[nH][nM][n[.f]S]]` with at least one part (a year is 365 days, a month 30), at most
    /// seven fractional digits of a second.
    pub fn parse(s: &str) -> Option<Duration> {
        let (neg, rest) = match s.trim().strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s.trim()),
        };
        let rest = rest.strip_prefix('P')?;
        let (date, time) = match rest.split_once('T') {
            Some((d, t)) => {
                if t.is_empty() {
                    return None;
                }
                (d, Some(t))
            }
            None => (rest, None),
        };
        let day = 86_400 * TICKS_PER_SECOND as i128;
        let (mut ticks, mut parts) = scan_units(
            date,
            &[('Y', 365 * day), ('M', 30 * day), ('D', day)],
            false,
        )?;
        if let Some(t) = time {
            let second = TICKS_PER_SECOND as i128;
            let (t, n) = scan_units(
                t,
                &[('H', 3_600 * second), ('M', 60 * second), ('S', second)],
                true,
            )?;
            if n == 0 {
                return None;
            }
            ticks = ticks.checked_add(t)?;
            parts += n;
        }
        if parts == 0 {
            return None;
        }
        let ticks = if neg { -ticks } else { ticks };
        i64::try_from(ticks).ok().map(|ticks| Duration { ticks })
    }

    /// As a standard duration (negative ones as zero).
    pub fn to_std(self) -> std::time::Duration {
        let t = self.ticks.max(0) as u64;
        std::time::Duration::new(
            t / TICKS_PER_SECOND as u64,
            (t % TICKS_PER_SECOND as u64) as u32 * 100,
        )
    }
}

impl std::fmt::Display for Duration {
    /// `XmlConvert.ToString(TimeSpan)`: days, then hours, minutes and seconds with the
    /// fraction's trailing zeros dropped, each only when not zero; zero is `PT0S`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let neg = self.ticks < 0;
        let t = self.ticks.unsigned_abs();
        let tps = TICKS_PER_SECOND as u64;
        let (days, rem) = (t / (86_400 * tps), t % (86_400 * tps));
        let (hours, rem) = (rem / (3_600 * tps), rem % (3_600 * tps));
        let (mins, rem) = (rem / (60 * tps), rem % (60 * tps));
        let (secs, frac) = (rem / tps, rem % tps);
        if neg {
            f.write_str("-")?;
        }
        f.write_str("P")?;
        if days > 0 {
            write!(f, "{days}D")?;
        }
        if hours + mins + secs + frac > 0 || days == 0 {
            f.write_str("T")?;
            if hours > 0 {
                write!(f, "{hours}H")?;
            }
            if mins > 0 {
                write!(f, "{mins}M")?;
            }
            if secs + frac > 0 || t == 0 {
                write!(f, "{secs}")?;
                if frac > 0 {
                    let digits = format!("{frac:07}");
                    write!(f, ".{}", digits.trim_end_matches('0'))?;
                }
                f.write_str("S")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn durations_are_read_in_any_form_and_written_canonically() {
        for (input, canonical) in [
            ("PT01H00M00S", "PT1H"),
            ("PT1H", "PT1H"),
            ("PT90M", "PT1H30M"),
            ("P7D", "P7D"),
            ("P1DT0H", "P1D"),
            ("PT0S", "PT0S"),
            ("P0D", "PT0S"),
            ("PT1.5S", "PT1.5S"),
            ("PT0.0000001S", "PT0.0000001S"),
            ("P1Y", "P365D"),
            ("P1M", "P30D"),
            ("P10675199DT2H48M5.4775807S", "P10675199DT2H48M5.4775807S"),
            ("-PT5M", "-PT5M"),
            ("PT15M", "PT15M"),
        ] {
            let d = Duration::parse(input).unwrap_or_else(|| panic!("{input}"));
            assert_eq!(d.to_string(), canonical, "{input}");
        }
        // TimeSpan.MaxValue: the service's "unlimited".
        assert_eq!(
            Duration { ticks: i64::MAX }.to_string(),
            "P10675199DT2H48M5.4775807S"
        );
        for bad in [
            "",
            "P",
            "PT",
            "1H",
            "PT1",
            "PTH",
            "PT1H1H",
            "PT1M1H",
            "P1H",
            "PT1.5M",
            "PT0.00000001S",
            "P10675199DT2H48M5.4775808S",
            "P99999999999D",
            "PT-1S",
            "PT1 H",
        ] {
            assert_eq!(Duration::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Duration::parse("PT2.5S").unwrap().to_std(),
            std::time::Duration::from_millis(2500)
        );
    }

    #[test]
    fn strings_are_converted_where_the_type_allows_and_refused_otherwise() {
        let mut body = json!({
            "id": "p", "targetDedicatedNodes": "1", "taskSlotsPerNode": " 4 ",
            "enableAutoScale": "false", "resizeTimeout": "PT01H00M00S",
            "startTask": {"commandLine": "x", "waitForSuccess": "true", "maxTaskRetryCount": "-1"},
            "metadata": [{"name": "priority", "value": "high"}],
            "resourceTags": {"priority": "high"},
            "priority": null,
        });
        normalize(&mut body).unwrap();
        assert_eq!(
            body,
            json!({
                "id": "p", "targetDedicatedNodes": 1, "taskSlotsPerNode": 4,
                "enableAutoScale": false, "resizeTimeout": "PT1H",
                "startTask": {"commandLine": "x", "waitForSuccess": true, "maxTaskRetryCount": -1},
                "metadata": [{"name": "priority", "value": "high"}],
                "resourceTags": {"priority": "high"},
                "priority": null,
            })
        );
        for (bad, path) in [
            (json!({"priority": "3x"}), "priority"),
            (json!({"priority": 2.5}), "priority"),
            (json!({"priority": "99999999999"}), "priority"),
            (json!({"priority": true}), "priority"),
            (
                json!({"constraints": {"maxTaskRetryCount": ""}}),
                "constraints.maxTaskRetryCount",
            ),
            (
                json!({"startTask": {"waitForSuccess": "yes"}}),
                "startTask.waitForSuccess",
            ),
            (json!({"usesTaskDependencies": 1}), "usesTaskDependencies"),
            (
                json!({"constraints": {"maxWallClockTime": "1 hour"}}),
                "constraints.maxWallClockTime",
            ),
            (
                json!({"value": [{"id": "a"}, {"requiredSlots": "two"}]}),
                "value[1].requiredSlots",
            ),
        ] {
            let mut b = bad.clone();
            let e = normalize(&mut b).unwrap_err();
            assert_eq!(e.code, "InvalidRequestBody", "{bad}");
            let reason = &e.values.iter().find(|(k, _)| k == "Reason").unwrap().1;
            assert!(reason.ends_with(&format!(" at {path}.")), "{bad}: {reason}");
        }
    }
}
