//! The per-engine allow-list of functions user SQL may call, from `sql-functions.toml` (data,
//! compiled in). See that file for why plain EXPLAIN still needs it.

use crate::config::Engine;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

const DATA: &str = include_str!("sql-functions.toml");

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineList {
    allowed: Vec<String>,
    #[serde(default)]
    refused: HashMap<String, String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    postgres: EngineList,
    mysql: EngineList,
    sqlite: EngineList,
    mssql: EngineList,
}

struct Lists {
    allowed: HashSet<String>,
    refused: HashMap<String, String>,
}

fn lists(engine: Engine) -> &'static Lists {
    static ALL: OnceLock<[Lists; 4]> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        // The file is part of the binary and checked by a unit test; a broken edit fails the
        // build's tests, and at run time an empty allow-list refuses every function (fail closed).
        let f: Option<File> = toml::from_str(DATA).ok();
        let conv = |l: Option<EngineList>| {
            let l = l.unwrap_or(EngineList {
                allowed: vec![],
                refused: HashMap::new(),
            });
            Lists {
                allowed: l.allowed.into_iter().collect(),
                refused: l.refused,
            }
        };
        match f {
            Some(f) => [
                conv(Some(f.postgres)),
                conv(Some(f.mysql)),
                conv(Some(f.sqlite)),
                conv(Some(f.mssql)),
            ],
            None => [conv(None), conv(None), conv(None), conv(None)],
        }
    });
    match engine {
        Engine::Postgres => &all[0],
        Engine::Mysql => &all[1],
        Engine::Sqlite => &all[2],
        Engine::Mssql => &all[3],
    }
}

/// What the allow-list says about calling `name` (lower case, unqualified) on `engine`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// A known built-in with side effects; the reason is shown to the user.
    Refused(String),
    /// Not a built-in known to be free of side effects (possibly user-defined).
    Unknown,
}

/// Looks `name` up for `engine`.
pub fn verdict(engine: Engine, name: &str) -> Verdict {
    let l = lists(engine);
    if let Some(why) = l.refused.get(name) {
        Verdict::Refused(why.clone())
    } else if l.allowed.contains(name) {
        Verdict::Allowed
    } else {
        Verdict::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_file_parses_and_lists_do_not_overlap() {
        let f: File = toml::from_str(DATA).expect("sql-functions.toml parses");
        for (name, l) in [
            ("postgres", &f.postgres),
            ("mysql", &f.mysql),
            ("sqlite", &f.sqlite),
            ("mssql", &f.mssql),
        ] {
            assert!(l.allowed.len() > 40, "{name}: allow-list too short");
            for a in &l.allowed {
                assert_eq!(a, &a.to_lowercase(), "{name}: {a} must be lower case");
                assert!(
                    !l.refused.contains_key(a),
                    "{name}: {a} both allowed and refused"
                );
            }
        }
        assert_eq!(verdict(Engine::Postgres, "lower"), Verdict::Allowed);
        assert!(matches!(
            verdict(Engine::Postgres, "txid_current"),
            Verdict::Refused(_)
        ));
        assert!(matches!(
            verdict(Engine::Mysql, "sleep"),
            Verdict::Refused(_)
        ));
        assert_eq!(verdict(Engine::Sqlite, "my_udf"), Verdict::Unknown);
    }
}
