//! Access policy: who may run which diagnostics on which target, from where.
//!
//! Roles, least to most: `viewer` (help and knowledge answers, no diagnostics), `requester`
//! (diagnostics), `dba` (also EXPLAIN on production and escalation actions), `admin`.
//! Without an `[access]` section the policy is open (everyone is `admin`), which suits the
//! embedded demo and a single-team console; with one, unknown users are `viewer` unless
//! `default_role` says otherwise.
//!
//! ```toml
//! [access]
//! default_role = "viewer"
//! grant_contact = "#dba-team"           # who can grant access, named in denials
//! users  = [{ id = "U012AB3CD", role = "dba" }, { id = "console:alice", role = "admin" }]
//! groups = [{ id = "S0DBATEAM", role = "dba" }]      # Slack user groups, Discord role ids, AAD groups
//! [[access.targets]]
//! alias = "orders-prod"
//! min_role = "requester"                 # who may run diagnostics on it (default requester)
//! channels = ["C0PRODOPS"]               # production: only from these channels (empty = anywhere)
//! [access.limits]
//! per_user_per_minute = 20
//! per_target_per_minute = 60
//! ```

use crate::config::Target;
use dbabot_chat::InboundMessage;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use std::num::NonZeroU32;

/// Errors in the `[access]` section.
#[derive(Debug, thiserror::Error)]
#[error("[access]: {0}")]
pub struct PolicyError(String);

/// A user's role. Ordered: `Viewer < Requester < Dba < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Requester,
    Dba,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Requester => "requester",
            Role::Dba => "dba",
            Role::Admin => "admin",
        }
    }
}

/// What a user wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    Diagnostic { check: &'a str },
    Explain,
    EscalationAction,
    ListCases,
}

/// Why something was denied: shown to the user and audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub what: String,
    pub why: String,
    pub grant: String,
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "I can't {}: {}. {}", self.what, self.why, self.grant)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Grant {
    id: String,
    role: Role,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetRule {
    alias: String,
    min_role: Option<Role>,
    #[serde(default)]
    channels: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Limits {
    per_user_per_minute: Option<u32>,
    per_target_per_minute: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default_role: Option<Role>,
    grant_contact: Option<String>,
    #[serde(default)]
    users: Vec<Grant>,
    #[serde(default)]
    groups: Vec<Grant>,
    #[serde(default)]
    targets: Vec<TargetRule>,
    #[serde(default)]
    limits: Limits,
}

/// The resolved policy.
pub struct Policy {
    open: bool,
    default_role: Role,
    grant_contact: String,
    users: Vec<(String, Role)>,
    groups: Vec<(String, Role)>,
    targets: Vec<TargetRule>,
    limits: (u32, u32),
    per_user: DefaultKeyedRateLimiter<String>,
    per_target: DefaultKeyedRateLimiter<String>,
}

fn quota(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl Policy {
    /// Everyone is `admin` (no `[access]` section); rate limits still apply (60/min each).
    pub fn open() -> Self {
        Self::build(
            true,
            Role::Admin,
            "your DBA team".into(),
            vec![],
            vec![],
            vec![],
            (60, 120),
        )
    }

    fn build(
        open: bool,
        default_role: Role,
        grant_contact: String,
        users: Vec<(String, Role)>,
        groups: Vec<(String, Role)>,
        targets: Vec<TargetRule>,
        limits: (u32, u32),
    ) -> Self {
        Policy {
            open,
            default_role,
            grant_contact,
            users,
            groups,
            targets,
            limits,
            per_user: RateLimiter::keyed(quota(limits.0)),
            per_target: RateLimiter::keyed(quota(limits.1)),
        }
    }

    /// Reads the `[access]` section.
    ///
    /// # Errors
    /// [`PolicyError`] for unknown keys or roles.
    pub fn from_toml(section: &toml::Value) -> Result<Self, PolicyError> {
        let f: File = section
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| PolicyError(e.message().to_string()))?;
        Ok(Self::build(
            false,
            f.default_role.unwrap_or(Role::Viewer),
            f.grant_contact.unwrap_or_else(|| "your DBA team".into()),
            f.users.into_iter().map(|g| (g.id, g.role)).collect(),
            f.groups.into_iter().map(|g| (g.id, g.role)).collect(),
            f.targets,
            (
                f.limits.per_user_per_minute.unwrap_or(20),
                f.limits.per_target_per_minute.unwrap_or(60),
            ),
        ))
    }

    /// The highest role any of the user's id or groups maps to.
    pub fn role_of(&self, msg: &InboundMessage) -> Role {
        if self.open {
            return Role::Admin;
        }
        let mut role = self.default_role;
        for (id, r) in &self.users {
            if *id == msg.user.id {
                role = role.max(*r);
            }
        }
        for (id, r) in &self.groups {
            if msg.user.groups.contains(id) {
                role = role.max(*r);
            }
        }
        role
    }

    /// Decides `action` for the sender of `msg` on `target`.
    ///
    /// # Errors
    /// A [`Denial`] saying what, why, and who can grant it.
    pub fn check(
        &self,
        msg: &InboundMessage,
        target: Option<&Target>,
        action: Action<'_>,
    ) -> Result<Role, Denial> {
        let role = self.role_of(msg);
        let deny = |what: String, why: String| Denial {
            what,
            why,
            grant: format!("Ask {} to grant it.", self.grant_contact),
        };
        let target_name = target.map(|t| t.alias.as_str()).unwrap_or("this database");
        match action {
            Action::EscalationAction | Action::ListCases => {
                if role < Role::Dba {
                    return Err(deny(
                        "act on escalation cases".into(),
                        format!("that needs the dba role and you are {}", role.as_str()),
                    ));
                }
            }
            Action::Explain | Action::Diagnostic { .. } => {
                let rule = target.and_then(|t| {
                    self.targets
                        .iter()
                        .find(|r| r.alias.eq_ignore_ascii_case(&t.alias))
                });
                let min = rule.and_then(|r| r.min_role).unwrap_or(Role::Requester);
                let what = match action {
                    Action::Diagnostic { check } => {
                        format!("run the {check} check on {target_name}")
                    }
                    _ => format!("run EXPLAIN on {target_name}"),
                };
                if role < min {
                    return Err(deny(
                        what,
                        format!(
                            "that needs the {} role and you are {}",
                            min.as_str(),
                            role.as_str()
                        ),
                    ));
                }
                let prod = target.is_some_and(|t| t.environment == "prod");
                if let Some(r) = rule {
                    if prod && !r.channels.is_empty() && !r.channels.contains(&msg.channel) {
                        return Err(deny(what, "production diagnostics on this target are only allowed in its ops channels".into()));
                    }
                }
                if matches!(action, Action::Explain) && prod && role < Role::Dba {
                    return Err(deny(
                        what,
                        format!(
                            "EXPLAIN on production is for the dba role and you are {}",
                            role.as_str()
                        ),
                    ));
                }
            }
        }
        Ok(role)
    }

    /// Counts one diagnostic run against the user's and the target's per-minute budget.
    ///
    /// # Errors
    /// A [`Denial`] naming the limit that was hit.
    pub fn take_budget(&self, msg: &InboundMessage, target: &Target) -> Result<(), Denial> {
        if self
            .per_user
            .check_key(&format!("{}/{}", msg.platform, msg.user.id))
            .is_err()
        {
            return Err(Denial {
                what: format!("run more diagnostics on {} right now", target.alias),
                why: format!(
                    "you have used your {} diagnostic runs for this minute",
                    self.limits.0
                ),
                grant: "Please wait a minute and ask again.".into(),
            });
        }
        if self.per_target.check_key(&target.alias).is_err() {
            return Err(Denial {
                what: format!("run more diagnostics on {} right now", target.alias),
                why: format!(
                    "{} has had its {} diagnostic runs for this minute",
                    target.alias, self.limits.1
                ),
                grant: "Please wait a minute and ask again.".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbabot_chat::{Platform, User};

    fn msg(user: &str, groups: &[&str], channel: &str) -> InboundMessage {
        InboundMessage::text(
            Platform::Slack,
            "T1",
            channel,
            "1.0",
            User {
                id: user.into(),
                display_name: user.into(),
                groups: groups.iter().map(|g| g.to_string()).collect(),
            },
            "x",
        )
    }

    fn target(env: &str) -> Target {
        Target {
            alias: "orders-prod".into(),
            aliases: vec![],
            engine: crate::config::Engine::Postgres,
            environment: env.into(),
            cloud: "aws".into(),
            dsn_source: "t".into(),
            dsn: crate::config::Secret::new("x"),
        }
    }

    #[test]
    fn roles_channels_and_explain() {
        let p = Policy::from_toml(&toml::from_str("users = [{ id = \"UREQ\", role = \"requester\" }]\ngroups = [{ id = \"SDBA\", role = \"dba\" }]\ngrant_contact = \"#dba\"\n[[targets]]\nalias = \"orders-prod\"\nchannels = [\"COPS\"]\n").expect("toml")).expect("policy");
        let t = target("prod");
        let d = p
            .check(
                &msg("UNKNOWN", &[], "COPS"),
                Some(&t),
                Action::Diagnostic { check: "overview" },
            )
            .expect_err("viewer denied");
        assert!(
            d.to_string()
                .contains("needs the requester role and you are viewer")
                && d.to_string().contains("#dba"),
            "{d}"
        );
        assert!(p
            .check(
                &msg("UREQ", &[], "COPS"),
                Some(&t),
                Action::Diagnostic { check: "overview" }
            )
            .is_ok());
        assert!(p
            .check(
                &msg("UREQ", &[], "CRANDOM"),
                Some(&t),
                Action::Diagnostic { check: "overview" }
            )
            .is_err());
        assert!(p
            .check(&msg("UREQ", &[], "COPS"), Some(&t), Action::Explain)
            .is_err());
        assert!(p
            .check(&msg("UX", &["SDBA"], "COPS"), Some(&t), Action::Explain)
            .is_ok());
        assert!(p
            .check(&msg("UREQ", &[], "COPS"), None, Action::EscalationAction)
            .is_err());
        assert_eq!(
            Policy::open().role_of(&msg("anyone", &[], "C")),
            Role::Admin
        );
    }
}
