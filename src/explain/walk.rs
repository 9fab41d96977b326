//! The tree check: every node of the parsed SELECT, at any depth, is a read without side
//! effects — no nested data-modifying statement, no locking clause, no `SELECT … INTO`, no
//! custom operator, and only allow-listed built-in functions ([`super::functions`]).

use super::functions::{verdict, Verdict};
use super::Refusal;
use crate::config::Engine;
use sqlparser::ast::{
    BinaryOperator, Expr, ObjectName, ObjectNamePart, Query, Select, SetExpr, Statement,
    TableFactor, Visit, Visitor,
};
use std::collections::BTreeSet;
use std::ops::ControlFlow;

struct Check {
    engine: Engine,
    /// Whether function calls are checked against the allow-list (user SQL) or not (the
    /// compiled-in catalog, which calls monitoring functions by design).
    functions_checked: bool,
    /// Allowed function names seen (for the PostgreSQL overload check).
    functions: BTreeSet<String>,
}

impl Check {
    fn function(&mut self, name: &ObjectName) -> ControlFlow<Refusal> {
        if !self.functions_checked {
            return ControlFlow::Continue(());
        }
        let parts: Vec<_> = name.0.iter().map(ObjectNamePart::as_ident).collect();
        let Some(Some(last)) = parts.last() else {
            return ControlFlow::Break(Refusal::Function {
                name: "(computed name)".into(),
                why: "a computed function name".into(),
            });
        };
        let shown = last.value.to_lowercase();
        if last.quote_style.is_some() {
            return ControlFlow::Break(Refusal::Function {
                name: shown,
                why: "a quoted function name may name a user-defined function".into(),
            });
        }
        // Only `pg_catalog.` may qualify a PostgreSQL built-in; other qualifiers name
        // user-defined functions (MySQL `db.f()`, PostgreSQL `public.f()`).
        let qualified_ok = match parts.len() {
            1 => true,
            2 => {
                self.engine == Engine::Postgres
                    && parts[0].is_some_and(|p| {
                        p.quote_style.is_none() && p.value.eq_ignore_ascii_case("pg_catalog")
                    })
            }
            _ => false,
        };
        if !qualified_ok {
            return ControlFlow::Break(Refusal::Function {
                name: name.to_string().to_lowercase(),
                why: "a schema-qualified function may be user-defined".into(),
            });
        }
        match verdict(self.engine, &shown) {
            Verdict::Allowed => {
                self.functions.insert(shown);
                ControlFlow::Continue(())
            }
            Verdict::Refused(why) => ControlFlow::Break(Refusal::Function { name: shown, why }),
            Verdict::Unknown => ControlFlow::Break(Refusal::Function {
                name: shown,
                why: format!(
                    "it is not a {} built-in known to have no side effects (user-defined functions can write or lock)",
                    self.engine.display()
                ),
            }),
        }
    }
}

impl Visitor for Check {
    type Break = Refusal;

    fn pre_visit_statement(&mut self, _s: &Statement) -> ControlFlow<Refusal> {
        // The walk starts at the top query, so any statement met is nested DML or DDL.
        ControlFlow::Break(Refusal::WritesOrLocks(
            "a data-modifying statement inside the query",
        ))
    }

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<Refusal> {
        if !q.locks.is_empty() {
            return ControlFlow::Break(Refusal::WritesOrLocks("a FOR UPDATE/SHARE locking clause"));
        }
        match q.body.as_ref() {
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
                ControlFlow::Break(Refusal::WritesOrLocks(
                    "a data-modifying statement inside the query",
                ))
            }
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<Refusal> {
        if s.into.is_some() {
            return ControlFlow::Break(Refusal::WritesOrLocks(
                "SELECT … INTO, which creates a table or writes variables",
            ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<Refusal> {
        match t {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => self.function(name),
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<Refusal> {
        match e {
            Expr::Function(f) => self.function(&f.name),
            Expr::BinaryOp {
                op: BinaryOperator::Custom(_) | BinaryOperator::PGCustomBinaryOperator(_),
                ..
            } => ControlFlow::Break(Refusal::WritesOrLocks(
                "a custom operator, which can call a user-defined function",
            )),
            _ => ControlFlow::Continue(()),
        }
    }
}

/// Walks `q`; on success returns the allow-listed function names it calls. With
/// `functions_checked` false only the structure is checked (writes, locks, INTO, operators).
pub fn check_query(
    q: &Query,
    engine: Engine,
    functions_checked: bool,
) -> Result<BTreeSet<String>, Refusal> {
    let mut c = Check {
        engine,
        functions_checked,
        functions: BTreeSet::new(),
    };
    match q.visit(&mut c) {
        ControlFlow::Break(r) => Err(r),
        ControlFlow::Continue(()) => Ok(c.functions),
    }
}
