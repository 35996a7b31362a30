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
    // Out of range (`strtod`'s ERANGE): Redis refuses what overflows to
    // infinity or underflows to zero.
    let v = s.parse::<f64>().ok()?;
    let mantissa = lower.split('e').next().unwrap_or("");
    let underflow = v == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b));
    (!v.is_infinite() && !underflow).then_some(v)
}

/// Glob-style match (`*`, `?`, `[a-z]`, `[^x]`, `\\x`) as Redis's
/// `stringmatchlen`, in time bounded by the pattern's length times the
/// string's: every token but `*` matches exactly one byte, so on a
/// mismatch only the last `*` needs to take one more byte (a later star
/// can match whatever an earlier one would have). A naive backtracking
/// matcher takes exponential time on patterns such as `a*a*a*...*b`
/// (Redis's CVE-2022-36021: one KEYS froze the server).
pub fn glob_match(pattern: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    // After the last `*`: where the pattern goes on, and the string
    // position that star's match ends at.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < pattern.len() && pattern[pi] == b'*' {
            while pi < pattern.len() && pattern[pi] == b'*' {
                pi += 1;
            }
            if pi == pattern.len() {
                return true;
            }
            star = Some((pi, si));
            continue;
        }
        if pi < pattern.len()
            && let Some(&c) = s.get(si)
            && let Some((true, used)) = glob_token(&pattern[pi..], c)
        {
            pi += used;
            si += 1;
            continue;
        }
        if pi == pattern.len() && si == s.len() {
            return true;
        }
        match star {
            Some((sp, ss)) if ss < s.len() => {
                star = Some((sp, ss + 1));
                (pi, si) = (sp, ss + 1);
            }
            _ => return false,
        }
    }
}

/// Whether the pattern token at the start of `p` (not `*`) matches byte
/// `c`, and how many pattern bytes the token takes.
fn glob_token(p: &[u8], c: u8) -> Option<(bool, usize)> {
    match *p.first()? {
        b'?' => Some((true, 1)),
        b'[' => Some(glob_class(&p[1..], c)).map(|(m, used)| (m, used + 1)),
        b'\\' if p.len() >= 2 => Some((p[1] == c, 2)),
        x => Some((x == c, 1)),
    }
}

/// A class after its `[`: whether `c` is in it, and the bytes it takes
/// through its `]` (an unterminated class takes the rest of the pattern).
fn glob_class(p: &[u8], c: u8) -> (bool, usize) {
    let not = p.first() == Some(&b'^');
    let mut i = usize::from(not);
    let mut matched = false;
    while i < p.len() && p[i] != b']' {
        if p[i] == b'\\' && i + 1 < p.len() {
            matched |= p[i + 1] == c;
            i += 2;
        } else if i + 2 < p.len() && p[i + 1] == b'-' {
            let (lo, hi) = (p[i].min(p[i + 2]), p[i].max(p[i + 2]));
            matched |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            matched |= p[i] == c;
            i += 1;
        }
    }
    // Past the `]`, or at the end of an unterminated class.
    (matched != not, (i + 1).min(p.len()))
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
        // strtod's ERANGE, as Redis refuses it.
        assert_eq!(parse_f64(b"1e3000"), None);
        assert_eq!(parse_f64(b"-1e400"), None);
        assert_eq!(parse_f64(b"1e-400"), None);
        assert_eq!(parse_f64(b"0e-400"), Some(0.0));
        assert_eq!(parse_f64(b"1e-310"), Some(1e-310));
    }

    /// The backtracking matcher this module had before (exponential on
    /// hostile patterns): the reference the bounded one must agree with.
    fn reference(mut p: &[u8], mut s: &[u8]) -> bool {
        while let Some(&pc) = p.first() {
            match pc {
                b'*' => {
                    while p.len() > 1 && p[1] == b'*' {
                        p = &p[1..];
                    }
                    if p.len() == 1 {
                        return true;
                    }
                    return (0..=s.len()).any(|i| reference(&p[1..], &s[i..]));
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
                                matched |= p[1] == c;
                                p = &p[2..];
                            }
                            Some(b']') => break,
                            Some(_) if p.len() >= 3 && p[1] == b'-' => {
                                let (lo, hi) = (p[0].min(p[2]), p[0].max(p[2]));
                                matched |= c >= lo && c <= hi;
                                p = &p[3..];
                            }
                            Some(&x) => {
                                matched |= x == c;
                                p = &p[1..];
                            }
                        }
                    }
                    if p.is_empty() {
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

    proptest::proptest! {
        #[test]
        fn glob_agrees_with_the_backtracking_matcher(
            p in proptest::collection::vec(proptest::sample::select(b"ab*?[]^-\\".to_vec()), 0..10),
            s in proptest::collection::vec(proptest::sample::select(b"ab]-\\^".to_vec()), 0..10),
        ) {
            proptest::prop_assert_eq!(glob_match(&p, &s), reference(&p, &s));
        }
    }

    /// CVE-2022-36021's pattern against a 40-byte key: the backtracking
    /// matcher tries about C(40, 20) splits; this one about 40 × 41 steps.
    #[test]
    fn a_hostile_pattern_is_matched_in_bounded_steps() {
        let key = [b'a'; 40];
        let hostile = b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        assert!(!glob_match(hostile, &key));
        assert!(glob_match(&hostile[..hostile.len() - 2], &key));
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
