//! Scope tokens (RFC 6749 §3.3).

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_token_grammar() {
        assert!(is_scope_token("api1.read"));
        assert!(is_scope_token("urn:x:y/z"));
        assert!(!is_scope_token(""));
        assert!(!is_scope_token("a b"));
        assert!(!is_scope_token("quote\"d"));
        assert!(!is_scope_token("back\\slash"));
        assert!(!is_scope_token("é"));
    }
}
