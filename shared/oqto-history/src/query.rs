//! From what people type into a search box to an FTS5 query that cannot be a syntax error.
//!
//! The user syntax (see `docs/history.md`):
//!
//! - a word is matched as written, punctuation included: `src/main.rs`, `foo-bar`,
//!   `fn:main` and `parse_config` each become an FTS5 phrase (`"src/main.rs"`), whose
//!   tokens must appear next to each other;
//! - `"several words"` is a phrase;
//! - a trailing `*` makes the last token a prefix: `pars*`, `"src/ma"*`;
//! - words must all match; `AND`, `OR` and `NOT` (upper case) are operators, and `( … )` groups.
//!   `a NOT b`: messages with `a` but not `b` (`NOT` needs a term before it).
//!
//! Every term is emitted inside double quotes, so FTS5 never sees a bare character of the
//! user's input outside a string; operators and parentheses are emitted by us, from a
//! parsed tree, fully parenthesised.

/// The longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;
/// The most words and phrases in one query.
pub const MAX_QUERY_TERMS: usize = 64;
/// The deepest nesting of parentheses.
pub const MAX_QUERY_DEPTH: usize = 16;

/// A word or phrase to match.
#[derive(Clone, Debug, PartialEq)]
struct Term {
    /// The text between the quotes; never contains `"`.
    text: String,
    /// Whether its last token is a prefix.
    prefix: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Term(Term),
    And,
    Or,
    Not,
    Open,
    Close,
}

impl Token {
    /// How the token is written, for error messages.
    fn spelling(&self) -> &'static str {
        match self {
            Token::Term(_) => "a term",
            Token::And => "AND",
            Token::Or => "OR",
            Token::Not => "NOT",
            Token::Open => "(",
            Token::Close => ")",
        }
    }
}

/// A parsed query.
#[derive(Debug, PartialEq)]
enum Node {
    Term(Term),
    And(Vec<Node>),
    Or(Vec<Node>),
    /// Matches of the left side without matches of the right side.
    Not(Box<Node>, Box<Node>),
}

/// Translates a user query into an FTS5 `MATCH` expression, or says (for people) why it is
/// not a valid query.
pub(crate) fn to_fts5(query: &str) -> Result<String, String> {
    if query.trim().is_empty() {
        return Err("the query is empty".to_owned());
    }
    if query.len() > MAX_QUERY_BYTES {
        return Err(format!(
            "the query is {} bytes long; at most {MAX_QUERY_BYTES} are allowed",
            query.len()
        ));
    }
    let tokens = lex(query)?;
    if tokens.is_empty() {
        return Err("nothing to search for: give at least one word or number".to_owned());
    }
    let terms = tokens
        .iter()
        .filter(|t| matches!(t, Token::Term(_)))
        .count();
    if terms > MAX_QUERY_TERMS {
        return Err(format!(
            "the query has {terms} words and phrases; at most {MAX_QUERY_TERMS} are allowed"
        ));
    }
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let node = parser.or_expr(Context::Start)?;
    if let Some(token) = parser.next() {
        // `or_expr` stops only at the end or at a `)` it cannot use.
        return Err(format!("unbalanced `{}`", token.spelling()));
    }
    let mut out = String::with_capacity(query.len() + 16);
    emit(&node, &mut out);
    Ok(out)
}

/// Whether FTS5 (`unicode61`) keeps `c` as part of a token rather than as a separator.
fn is_token_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Whitespace, and control characters (which no one searches for, and NUL would end the
/// query early inside `SQLite`).
fn is_space(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

fn lex(query: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        if is_space(c) {
            chars.next();
            continue;
        }
        match c {
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '"' {
                        closed = true;
                        break;
                    }
                    text.push(if is_space(c) { ' ' } else { c });
                }
                if !closed {
                    return Err("unbalanced `\"`: a phrase needs a closing quote".to_owned());
                }
                let prefix = chars.next_if_eq(&'*').is_some();
                push_term(&mut tokens, text, prefix)?;
            }
            _ => {
                let mut word = String::new();
                while let Some(c) =
                    chars.next_if(|&c| !is_space(c) && !matches!(c, '(' | ')' | '"'))
                {
                    word.push(c);
                }
                match word.as_str() {
                    "AND" => tokens.push(Token::And),
                    "OR" => tokens.push(Token::Or),
                    "NOT" => tokens.push(Token::Not),
                    _ => {
                        let stem = word.trim_end_matches('*');
                        let prefix = stem.len() < word.len();
                        push_term(&mut tokens, stem.to_owned(), prefix)?;
                    }
                }
            }
        }
    }
    Ok(tokens)
}

/// Adds a term, or drops it when it has nothing FTS5 would index (`-`, `::`, `…`): such a
/// phrase would have no tokens and match nothing, which would empty an AND.
fn push_term(tokens: &mut Vec<Token>, text: String, prefix: bool) -> Result<(), String> {
    if text.chars().any(is_token_char) {
        tokens.push(Token::Term(Term { text, prefix }));
        Ok(())
    } else if prefix {
        Err("`*` must follow a word, as in `pars*`".to_owned())
    } else {
        Ok(())
    }
}

/// What precedes the operand being parsed, for error messages.
#[derive(Clone, Copy, PartialEq)]
enum Context {
    /// The start of the query.
    Start,
    /// Just after `(`.
    Group,
    /// Just after this operator.
    After(&'static str),
    /// Next to a term, with no operator between (implicit AND).
    Adjacent,
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        if token.is_some() {
            self.pos += 1;
        }
        token
    }

    /// `and_expr (OR and_expr)*`
    fn or_expr(&mut self, context: Context) -> Result<Node, String> {
        let mut items = vec![self.and_expr(context)?];
        while self.peek() == Some(&Token::Or) {
            self.next();
            items.push(self.and_expr(Context::After("OR"))?);
        }
        Ok(collapse(items, Node::Or))
    }

    /// `operand ((AND | NOT)? operand)*`, left to right.
    fn and_expr(&mut self, context: Context) -> Result<Node, String> {
        let mut items = vec![self.operand(context)?];
        loop {
            match self.peek() {
                Some(Token::And) => {
                    self.next();
                    items.push(self.operand(Context::After("AND"))?);
                }
                Some(Token::Not) => {
                    self.next();
                    let right = self.operand(Context::After("NOT"))?;
                    let left = collapse(std::mem::take(&mut items), Node::And);
                    items.push(Node::Not(Box::new(left), Box::new(right)));
                }
                Some(Token::Term(_) | Token::Open) => {
                    items.push(self.operand(Context::Adjacent)?);
                }
                Some(Token::Or | Token::Close) | None => break,
            }
        }
        Ok(collapse(items, Node::And))
    }

    /// A term or a parenthesised group.
    fn operand(&mut self, context: Context) -> Result<Node, String> {
        match self.next() {
            Some(Token::Term(term)) => Ok(Node::Term(term)),
            Some(Token::Open) => {
                if self.depth == MAX_QUERY_DEPTH {
                    return Err(format!(
                        "parentheses nested more than {MAX_QUERY_DEPTH} deep"
                    ));
                }
                self.depth += 1;
                let inner = self.or_expr(Context::Group)?;
                if self.next() != Some(Token::Close) {
                    return Err("unbalanced `(`: a group needs a closing `)`".to_owned());
                }
                self.depth -= 1;
                Ok(inner)
            }
            Some(Token::Close) => Err(match context {
                Context::Start | Context::Adjacent => "unbalanced `)`".to_owned(),
                Context::Group => "empty `()`".to_owned(),
                Context::After(op) => format!("`{op}` needs a term after it"),
            }),
            Some(op @ (Token::And | Token::Or | Token::Not)) => Err(match context {
                Context::Start | Context::Group | Context::Adjacent => format!(
                    "`{}` needs a term before it (to search for the word, write it in lower \
                     case or in quotes)",
                    op.spelling()
                ),
                Context::After(prev) => {
                    format!("`{prev}` needs a term after it, not `{}`", op.spelling())
                }
            }),
            None => Err(match context {
                Context::Start | Context::Adjacent => "the query is empty".to_owned(),
                Context::Group => "unbalanced `(`: a group needs a closing `)`".to_owned(),
                Context::After(op) => format!("`{op}` needs a term after it"),
            }),
        }
    }
}

/// One item stays itself; several become `make(items)`.
fn collapse(mut items: Vec<Node>, make: fn(Vec<Node>) -> Node) -> Node {
    if items.len() == 1 {
        items.remove(0)
    } else {
        make(items)
    }
}

fn emit(node: &Node, out: &mut String) {
    match node {
        Node::Term(term) => {
            out.push('"');
            out.push_str(&term.text);
            out.push('"');
            if term.prefix {
                out.push('*');
            }
        }
        Node::And(items) => emit_list(items, " AND ", out),
        Node::Or(items) => emit_list(items, " OR ", out),
        Node::Not(left, right) => {
            out.push('(');
            emit(left, out);
            out.push_str(" NOT ");
            emit(right, out);
            out.push(')');
        }
    }
}

fn emit_list(items: &[Node], separator: &str, out: &mut String) {
    out.push('(');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        emit(item, out);
    }
    out.push(')');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(query: &str) -> String {
        match to_fts5(query) {
            Ok(fts) => fts,
            Err(e) => panic!("`{query}` was refused: {e}"),
        }
    }

    fn err(query: &str) -> String {
        match to_fts5(query) {
            Ok(fts) => panic!("`{query}` was accepted as {fts}"),
            Err(e) => e,
        }
    }

    #[test]
    fn words_become_quoted_phrases() {
        assert_eq!(ok("parse_config"), r#""parse_config""#);
        assert_eq!(ok("src/main.rs"), r#""src/main.rs""#);
        assert_eq!(ok("foo-bar fn:main"), r#"("foo-bar" AND "fn:main")"#);
        assert_eq!(ok("  flaky\ttest "), r#"("flaky" AND "test")"#);
        assert_eq!(
            ok("and or not near"),
            r#"("and" AND "or" AND "not" AND "near")"#
        );
    }

    #[test]
    fn phrases_and_prefixes_are_kept() {
        assert_eq!(ok(r#""flaky test""#), r#""flaky test""#);
        assert_eq!(ok("pars*"), r#""pars"*"#);
        assert_eq!(ok(r#""src/ma"*"#), r#""src/ma"*"#);
        assert_eq!(ok("a*b"), r#""a*b""#);
    }

    #[test]
    fn operators_and_groups_are_parsed() {
        assert_eq!(ok("a OR b c"), r#"("a" OR ("b" AND "c"))"#);
        assert_eq!(ok("(a OR b) c"), r#"(("a" OR "b") AND "c")"#);
        assert_eq!(ok("a b NOT c"), r#"(("a" AND "b") NOT "c")"#);
        assert_eq!(ok("a NOT b c"), r#"(("a" NOT "b") AND "c")"#);
        assert_eq!(ok("a AND b"), r#"("a" AND "b")"#);
        assert_eq!(ok("foo(bar)"), r#"("foo" AND "bar")"#);
    }

    #[test]
    fn punctuation_only_terms_are_dropped() {
        assert_eq!(ok("foo - bar"), r#"("foo" AND "bar")"#);
        assert_eq!(ok(r#"foo "--""#), r#""foo""#);
        assert!(err("- :: …").contains("nothing to search for"));
    }

    #[test]
    fn control_characters_are_spaces() {
        assert_eq!(ok("a\0b"), r#"("a" AND "b")"#);
        assert_eq!(ok("\"a\0b\""), r#""a b""#);
    }

    #[test]
    fn syntax_errors_say_what_is_wrong() {
        assert_eq!(err(""), "the query is empty");
        assert_eq!(err(" \n"), "the query is empty");
        assert!(err(r#""unbalanced"#).contains("closing quote"));
        assert!(err("AND").contains("`AND` needs a term before it"));
        assert!(err("foo AND").contains("`AND` needs a term after it"));
        assert!(err("foo OR AND bar").contains("`OR` needs a term after it, not `AND`"));
        assert!(err("NOT foo").contains("`NOT` needs a term before it"));
        assert!(err("*").contains("`*` must follow a word"));
        assert!(err(r#""" *"#).contains("`*` must follow a word"));
        assert!(err(r#"""*"#).contains("`*` must follow a word"));
        assert!(err("NEAR(").contains("unbalanced `(`"));
        assert!(err("(a").contains("unbalanced `(`"));
        assert!(err("a)").contains("unbalanced `)`"));
        assert!(err("()").contains("empty `()`"));
    }

    #[test]
    fn limits_are_enforced() {
        let deep = format!("{}a{}", "(".repeat(17), ")".repeat(17));
        assert!(err(&deep).contains("nested more than 16"));
        let ok_deep = format!("{}a{}", "(".repeat(16), ")".repeat(16));
        assert_eq!(ok(&ok_deep), r#""a""#);
        let many = vec!["w"; MAX_QUERY_TERMS + 1].join(" ");
        assert!(err(&many).contains("at most 64"));
        let long = "x".repeat(MAX_QUERY_BYTES + 1);
        assert!(err(&long).contains("bytes long"));
    }
}
