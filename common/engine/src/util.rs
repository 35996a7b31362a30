//! Number parsing and glob matching with Redis's exact rules.

/// Parses a signed 64-bit integer the way Redis's `string2ll` does: no
/// spaces, no `+`, no leading zeros, at most 20 characters.
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 { None } else { Some((v as i64).wrapping_neg()) }
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses a float the way Redis's `string2ld`/`strtod` users do: no spaces,
/// no NaN; `inf`, `+inf`, `-inf` allowed.
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.starts_with(|c: char| c.is_whitespace()) || s.ends_with(|c: char| c.is_whitespace()) {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    if lower.contains("nan") {
        return None;
    }
    match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            return Some(if s.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY });
        }
        _ => {}
    }
    if lower.contains("inf") {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Glob-style match (`*`, `?`, `[a-z]`, `[^x]`, `\x`) as Redis's `stringmatchlen`.
pub fn glob_match(pattern: &[u8], s: &[u8]) -> bool {
    glob(pattern, s, 0)
}

/// Recursion bound on `*` nesting, so hostile patterns stay cheap.
const GLOB_DEPTH_MAX: usize = 1000;

fn glob(mut p: &[u8], mut s: &[u8], depth: usize) -> bool {
    if depth > GLOB_DEPTH_MAX {
        return false;
    }
    while let Some(&pc) = p.first() {
        match pc {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                for i in 0..=s.len() {
                    if glob(&p[1..], &s[i..], depth + 1) {
                        return true;
                    }
                }
                return false;
            }
            b'?' => {
                if s.is_empty() {
                    return false;
                }
                s = &s[1..];
            }
            b'[' => {
                let Some(&c) = s.first() else { return false };
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    match p.first() {
                        None => break,
                        Some(b'\\') if p.len() >= 2 => {
                            if p[1] == c {
                                matched = true;
                            }
                            p = &p[2..];
                        }
                        Some(b']') => break,
                        Some(_) if p.len() >= 3 && p[1] == b'-' => {
                            let (mut lo, mut hi) = (p[0], p[2]);
                            if lo > hi {
                                std::mem::swap(&mut lo, &mut hi);
                            }
                            if c >= lo && c <= hi {
                                matched = true;
                            }
                            p = &p[3..];
                        }
                        Some(&x) => {
                            if x == c {
                                matched = true;
                            }
                            p = &p[1..];
                        }
                    }
                }
                if p.is_empty() {
                    // Unterminated class: Redis treats the rest as matched so far.
                    return if matched != not { s.len() == 1 } else { false };
                }
                if matched == not {
                    return false;
                }
                s = &s[1..];
            }
            b'\\' if p.len() >= 2 => {
                if s.first() != Some(&p[1]) {
                    return false;
                }
                p = &p[1..];
                s = &s[1..];
            }
            _ => {
                if s.first() != Some(&pc) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
    }
    s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_like_string2ll() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        for bad in [&b"+1"[..], b"01", b" 1", b"1 ", b"", b"-", b"-0", b"1.0"] {
            assert_eq!(parse_i64(bad), None, "{:?}", std::str::from_utf8(bad));
        }
    }

    #[test]
    fn floats() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"abc"), None);
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"anything"));
        assert!(glob_match(b"h?llo", b"hello"));
        assert!(glob_match(b"h[ae]llo", b"hallo"));
        assert!(!glob_match(b"h[^e]llo", b"hello"));
        assert!(glob_match(b"h[a-b]llo", b"hbllo"));
        assert!(glob_match(b"user:*:name", b"user:42:name"));
        assert!(!glob_match(b"user:*:name", b"user:42:age"));
        assert!(glob_match(b"a\\*b", b"a*b"));
    }
}
