//! What a request may cost before the engine looks at it. The engine's own validation (depth,
//! complexity, its rules) follows every fragment spread afresh, so a document of a few hundred
//! bytes whose fragments each spread the previous one twice costs 2^levels steps there. These
//! checks run first, in time linear in the request:
//!
//! 1. [`check_text`]: one pass over the characters, before parsing: at most [`MAX_TOKENS`]
//!    lexical tokens and [`MAX_NESTING`] levels of brackets (the parser recurses on them).
//! 2. [`check_document`]: over the parsed document, each fragment's cost computed once
//!    (memoised) and reused at every spread: at most [`MAX_FRAGMENTS`] fragment definitions, no
//!    cycle, and, counted as executed (every spread expanded), at most [`MAX_SELECTIONS`]
//!    selections, [`MAX_ALIASES`] aliases and [`MAX_DIRECTIVES`] directives.
//!
//! Only then does the engine parse-check and validate, on a document these bounds keep small.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::parser::Positioned;
use async_graphql::Name;

/// Complexity of a field answered by the PMS (through the cache): high, so one query cannot
/// fan out into many vendor calls (vendors rate-limit per hotel).
pub const PMS_FIELD_COST: usize = 250;
/// Complexity of a change to an event subscription: several AWS calls (the table, Secrets
/// Manager, the audit log, a DNS lookup of the URL), so priced as a PMS read: at most 20 in
/// one request.
pub const SUBSCRIPTION_CHANGE_COST: usize = PMS_FIELD_COST;
/// Assumed length of lists whose size is not an argument (a day's arrivals, rooms).
pub const LIST_ESTIMATE: usize = 20;
/// Lexical tokens (names, numbers, strings, punctuators) in one document. GraphiQL's full
/// introspection query has about 400.
pub const MAX_TOKENS: usize = 3000;
/// Nesting of `{`, `(` and `[`. GraphiQL's introspection query nests 13.
pub const MAX_NESTING: usize = 48;
/// Fragment definitions in one document (the introspection query has 3).
pub const MAX_FRAGMENTS: usize = 100;
/// Selections (fields, fragment spreads, inline fragments) with every spread expanded. The
/// introspection query expands to about 250; a page of bookings with every field to about 60.
pub const MAX_SELECTIONS: u64 = 1000;
/// Aliased fields, with every spread expanded.
pub const MAX_ALIASES: u64 = 50;
/// Directives, with every spread expanded.
pub const MAX_DIRECTIVES: u64 = 50;

/// Why a document was refused; the message names the limit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("the query has more than {MAX_TOKENS} tokens")]
    Tokens,
    #[error("the query nests brackets more than {MAX_NESTING} levels deep")]
    Nesting,
    #[error("the query defines more than {MAX_FRAGMENTS} fragments")]
    Fragments,
    #[error("fragment {0} spreads itself (directly or through other fragments)")]
    FragmentCycle(String),
    #[error("unknown fragment {0}")]
    UnknownFragment(String),
    #[error("the query selects more than {MAX_SELECTIONS} fields once its fragments are expanded")]
    Selections,
    #[error("the query has more than {MAX_ALIASES} aliases once its fragments are expanded")]
    Aliases,
    #[error("the query has more than {MAX_DIRECTIVES} directives once its fragments are expanded")]
    Directives,
}

/// Counts lexical tokens and bracket nesting without parsing: strings, block strings and
/// comments are skipped as units, so what they hold counts as one token (or none).
pub fn check_text(query: &str) -> Result<(), LimitError> {
    let bytes = query.as_bytes();
    let mut i = 0;
    let mut tokens = 0usize;
    let mut depth = 0usize;
    let mut count = || {
        tokens += 1;
        if tokens > MAX_TOKENS {
            Err(LimitError::Tokens)
        } else {
            Ok(())
        }
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            // Byte order mark (U+FEFF), ignored like whitespace.
            0xEF if bytes[i..].starts_with(&[0xEF, 0xBB, 0xBF]) => i += 3,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                count()?;
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // An escaped triple quote is part of the block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
            }
            b'"' => {
                count()?;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'{' | b'(' | b'[' => {
                count()?;
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(LimitError::Nesting);
                }
                i += 1;
            }
            b'}' | b')' | b']' => {
                count()?;
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                count()?;
                i += 3;
            }
            c if c == b'_' || c == b'-' || c.is_ascii_alphanumeric() => {
                count()?;
                while i < bytes.len()
                    && (bytes[i] == b'_'
                        || bytes[i] == b'.'
                        || bytes[i] == b'+'
                        || bytes[i] == b'-'
                        || bytes[i].is_ascii_alphanumeric())
                {
                    i += 1;
                }
            }
            // Punctuators (`! $ & : = @ |`) and anything else: one token per character (the
            // parser refuses what is not GraphQL).
            _ => {
                count()?;
                i += 1;
            }
        }
    }
    Ok(())
}

/// What a selection set costs once executed: every fragment spread counts as the whole
/// fragment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Cost {
    selections: u64,
    aliases: u64,
    directives: u64,
}

impl Cost {
    fn add(self, other: Cost) -> Cost {
        Cost {
            selections: self.selections.saturating_add(other.selections),
            aliases: self.aliases.saturating_add(other.aliases),
            directives: self.directives.saturating_add(other.directives),
        }
    }

    fn check(self) -> Result<Cost, LimitError> {
        if self.selections > MAX_SELECTIONS {
            Err(LimitError::Selections)
        } else if self.aliases > MAX_ALIASES {
            Err(LimitError::Aliases)
        } else if self.directives > MAX_DIRECTIVES {
            Err(LimitError::Directives)
        } else {
            Ok(self)
        }
    }
}

enum Memo {
    /// Being computed: meeting it again is a cycle.
    Open,
    Done(Cost),
}

struct Expansion<'a> {
    doc: &'a ExecutableDocument,
    memo: HashMap<&'a str, Memo>,
}

impl<'a> Expansion<'a> {
    /// A fragment's cost, computed once. Every partial sum is checked against the limits, so
    /// the walk stops as soon as one is passed.
    fn fragment(&mut self, name: &'a Name) -> Result<Cost, LimitError> {
        match self.memo.get(name.as_str()) {
            Some(Memo::Done(c)) => return Ok(*c),
            Some(Memo::Open) => return Err(LimitError::FragmentCycle(name.to_string())),
            None => {}
        }
        let doc = self.doc;
        let fragment = doc
            .fragments
            .get(name)
            .ok_or_else(|| LimitError::UnknownFragment(name.to_string()))?;
        self.memo.insert(name.as_str(), Memo::Open);
        let own = Cost {
            directives: fragment.node.directives.len() as u64,
            ..Cost::default()
        };
        let cost = own
            .add(self.selection_set(&fragment.node.selection_set)?)
            .check()?;
        self.memo.insert(name.as_str(), Memo::Done(cost));
        Ok(cost)
    }

    fn selection_set(&mut self, set: &'a Positioned<SelectionSet>) -> Result<Cost, LimitError> {
        let mut total = Cost::default();
        for item in &set.node.items {
            let cost = match &item.node {
                Selection::Field(f) => Cost {
                    selections: 1,
                    aliases: u64::from(f.node.alias.is_some()),
                    directives: f.node.directives.len() as u64,
                }
                .add(self.selection_set(&f.node.selection_set)?),
                Selection::FragmentSpread(s) => Cost {
                    selections: 1,
                    aliases: 0,
                    directives: s.node.directives.len() as u64,
                }
                .add(self.fragment(&s.node.fragment_name.node)?),
                Selection::InlineFragment(i) => Cost {
                    selections: 1,
                    aliases: 0,
                    directives: i.node.directives.len() as u64,
                }
                .add(self.selection_set(&i.node.selection_set)?),
            };
            total = total.add(cost).check()?;
        }
        Ok(total)
    }
}

/// Checks a parsed document: fragment count, cycles, and the executed size of every operation
/// (and of every fragment, used or not), each fragment expanded once.
pub fn check_document(doc: &ExecutableDocument) -> Result<(), LimitError> {
    if doc.fragments.len() > MAX_FRAGMENTS {
        return Err(LimitError::Fragments);
    }
    let mut expansion = Expansion {
        doc,
        memo: HashMap::new(),
    };
    for name in doc.fragments.keys() {
        expansion.fragment(name)?;
    }
    for (_, operation) in doc.operations.iter() {
        let own = Cost {
            directives: operation.node.directives.len() as u64,
            ..Cost::default()
        };
        own.add(expansion.selection_set(&operation.node.selection_set)?)
            .check()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    /// `levels` fragments, each spreading the previous one twice: 2^levels fields executed.
    fn doubling_fragments(levels: usize) -> String {
        let mut q = String::from("query { ...F0 }\nfragment F1 on QueryRoot { __typename }\n");
        q = q.replace("...F0", &format!("...F{levels}"));
        for i in 2..=levels {
            q.push_str(&format!(
                "fragment F{i} on QueryRoot {{ ...F{p} ...F{p} }}\n",
                p = i - 1
            ));
        }
        q
    }

    fn check(q: &str) -> Result<(), LimitError> {
        check_text(q)?;
        check_document(&parse_query(q).expect("parses"))
    }

    #[test]
    fn doubling_fragments_are_refused_after_one_pass() {
        // 9 levels expand to 767 selections (fields and spreads): within the limit; 10 to
        // 1535: not.
        assert_eq!(check(&doubling_fragments(9)), Ok(()));
        assert_eq!(check(&doubling_fragments(10)), Err(LimitError::Selections));
        // 60 levels would be 2^60 fields: refused as soon as the sum passes the limit.
        assert_eq!(check(&doubling_fragments(60)), Err(LimitError::Selections));
    }

    #[test]
    fn cycles_unknown_fragments_and_fragment_counts() {
        let cycle = "{ ...A } fragment A on QueryRoot { ...B } fragment B on QueryRoot { ...A }";
        assert!(matches!(check(cycle), Err(LimitError::FragmentCycle(_))));
        let unknown = "{ ...Nope }";
        assert_eq!(
            check(unknown),
            Err(LimitError::UnknownFragment("Nope".into()))
        );
        let mut many = String::from("{ __typename }");
        for i in 0..=MAX_FRAGMENTS {
            many.push_str(&format!(" fragment F{i} on QueryRoot {{ __typename }}"));
        }
        assert_eq!(check(&many), Err(LimitError::Fragments));
    }

    #[test]
    fn aliases_and_directives_count_as_executed() {
        let aliases: String = (0..=MAX_ALIASES)
            .map(|i| format!("a{i}: __typename "))
            .collect();
        assert_eq!(check(&format!("{{ {aliases} }}")), Err(LimitError::Aliases));
        // 30 aliases in a fragment spread twice are 60 aliases.
        let thirty: String = (0..30).map(|i| format!("a{i}: __typename ")).collect();
        let q = format!("{{ ...A ...A }} fragment A on QueryRoot {{ {thirty} }}");
        assert_eq!(check(&q), Err(LimitError::Aliases));
        let directives = "__typename @include(if: true) ".repeat(MAX_DIRECTIVES as usize + 1);
        assert_eq!(
            check(&format!("{{ {directives} }}")),
            Err(LimitError::Directives)
        );
    }

    #[test]
    fn tokens_and_nesting_are_counted_before_parsing() {
        let fields = "a ".repeat(MAX_TOKENS);
        assert_eq!(
            check_text(&format!("{{ {fields} }}")),
            Err(LimitError::Tokens)
        );
        let deep = format!(
            "{}{}",
            "{ a ".repeat(MAX_NESTING + 1),
            "}".repeat(MAX_NESTING + 1)
        );
        assert_eq!(check_text(&deep), Err(LimitError::Nesting));
        // Strings and comments are single tokens (or none), whatever they hold.
        let q = format!(
            "# {{{{{{{{ {}\n{{ a(x: \"{}\", y: \"\"\"{}\\\"\"\"\"\"\") }}",
            "( ".repeat(5000),
            "{ ".repeat(5000),
            "[ ".repeat(5000)
        );
        assert_eq!(check_text(&q), Ok(()));
        // Unbalanced input is for the parser to refuse.
        assert_eq!(check_text("}}}} {"), Ok(()));
    }
}
