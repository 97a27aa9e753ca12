//! Static bearer tokens: upstream's `--token-auth-file`, a CSV of
//! `token,user,uid[,"group1,group2"]` (pure parsing; the file is read once
//! at start), and the `Authorization: Bearer` header.

use api::user::UserInfo;
use std::collections::HashMap;

/// The users the token file names, by token.
#[derive(Debug, Default, Clone)]
pub struct TokenFile(HashMap<String, UserInfo>);

impl TokenFile {
    /// Parses the file's text. Like upstream, a record with fewer than three
    /// columns is an error, an empty token is skipped, a repeated token's
    /// last record wins.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut tokens = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let record = csv_record(line).map_err(|e| format!("token file line {}: {e}", n + 1))?;
            if record.len() < 3 {
                return Err(format!(
                    "token file must have at least 3 columns (token, user name, user uid), found {} on line {}",
                    record.len(),
                    n + 1
                ));
            }
            if record[0].is_empty() {
                tracing::warn!("empty token in the token file, line {}", n + 1);
                continue;
            }
            let groups = match record.get(3) {
                Some(g) if !g.is_empty() => g.split(',').map(String::from).collect(),
                _ => Vec::new(),
            };
            let user = UserInfo { name: record[1].clone(), uid: record[2].clone(), groups, ..UserInfo::default() };
            tokens.insert(record[0].clone(), user);
        }
        Ok(Self(tokens))
    }

    pub fn user(&self, token: &str) -> Option<&UserInfo> {
        self.0.get(token)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One CSV record as Go's `encoding/csv` reads it (leading spaces trimmed,
/// `"quoted, fields"` with `""` for a quote).
fn csv_record(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("unterminated quoted field".into()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(_) => return Err("extraneous text after a quoted field".into()),
            }
        } else {
            loop {
                match chars.next() {
                    Some(',') => break,
                    Some('"') => return Err("bare \" in a field".into()),
                    Some(c) => field.push(c),
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                }
            }
        }
        fields.push(field);
    }
}

/// The token of `Authorization: Bearer <token>`. Any other scheme, or an
/// empty token, is no bearer credential at all (upstream then goes on to
/// anonymous), so `None`.
pub fn bearer(header: &str) -> Option<&str> {
    let mut parts = header.splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_as_upstream_reads_them() {
        let file =
            TokenFile::parse("t1,alice,u1\n\nt2,bob,u2,\"devs,ops\"\n,nobody,u3\nt3, carol ,u4,admins\nt1,alice2,u5\n")
                .unwrap();
        assert_eq!(file.len(), 3);
        assert_eq!(file.user("t1").map(|u| u.name.as_str()), Some("alice2"));
        assert_eq!(file.user("t2").map(|u| u.groups.clone()), Some(vec!["devs".into(), "ops".into()]));
        assert_eq!(file.user("t3").map(|u| (u.name.as_str(), u.uid.as_str())), Some(("carol ", "u4")));
        assert!(file.user("").is_none());
        for bad in ["t,alice\n", "t,\"alice,u\n", "t,al\"ice,u\n", "t,\"a\"x,u\n"] {
            assert!(TokenFile::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(csv_record(r#"a,"b ""q"", c",d"#).unwrap(), ["a", "b \"q\", c", "d"]);
    }

    #[test]
    fn bearer_headers() {
        for (header, want) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("Bearer abc def", Some("abc")),
            ("Bearer ", None),
            ("Bearer", None),
            ("Basic YWxpY2U6cA==", None),
            ("", None),
        ] {
            assert_eq!(bearer(header), want, "{header:?}");
        }
    }
}
