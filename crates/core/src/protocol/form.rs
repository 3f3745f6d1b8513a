//! `application/x-www-form-urlencoded` request bodies, parsed strictly (RFC 6749 §3.1, §3.2,
//! Appendix B): UTF-8 only, bounded, and a parameter may appear once unless the spec that
//! defines it allows repeats (RFC 8707 `resource`).

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

use super::OAuthError;

/// At most this many parameters are read from one body.
pub const MAX_PARAMETERS: usize = 64;

/// A parsed form body. Parameters sent without a value are treated as omitted (RFC 6749 §3.1).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Form {
    params: BTreeMap<String, Vec<String>>,
}

fn decode(raw: &str) -> Result<String, OAuthError> {
    // Appendix B: `+` is a space; then percent-decoding, which must yield UTF-8.
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| OAuthError::InvalidRequest("a form parameter is not valid UTF-8".into()))
}

impl Form {
    /// Parses a body.
    pub fn parse(body: &[u8]) -> Result<Form, OAuthError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| OAuthError::InvalidRequest("the request body is not UTF-8".into()))?;
        let mut form = Form::default();
        let mut count = 0;
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            count += 1;
            if count > MAX_PARAMETERS {
                return Err(OAuthError::InvalidRequest("too many parameters".into()));
            }
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (name, value) = (decode(name)?, decode(value)?);
            if name.is_empty() || value.is_empty() {
                continue;
            }
            form.params.entry(name).or_default().push(value);
        }
        Ok(form)
    }

    /// A form of the given parameters, in order; empty values are left out, as in a body.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Form {
        let mut form = Form::default();
        for (name, value) in pairs {
            if !name.is_empty() && !value.is_empty() {
                form.params.entry(name).or_default().push(value);
            }
        }
        form
    }

    /// Every (name, value) pair, owned.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.params
            .into_iter()
            .flat_map(|(name, values)| values.into_iter().map(move |v| (name.clone(), v)))
            .collect()
    }

    /// The single value of `name`. RFC 6749 §3.1: a parameter included more than once is an
    /// `invalid_request`.
    pub fn one(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        match self.params.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([value]) => Ok(Some(value)),
            Some(_) => Err(OAuthError::InvalidRequest(
                format!("the `{name}` parameter is repeated").into(),
            )),
        }
    }

    /// The value of a required parameter.
    pub fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.one(name)?.ok_or_else(|| {
            OAuthError::InvalidRequest(format!("the `{name}` parameter is missing").into())
        })
    }

    /// Every value of a parameter that may repeat (RFC 8707 `resource`).
    pub fn all(&self, name: &str) -> &[String] {
        self.params.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// Every (name, value) pair, names in order.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.params
            .iter()
            .flat_map(|(name, values)| values.iter().map(move |v| (name.as_str(), v.as_str())))
            .collect()
    }

    /// The form without the parameter `name`.
    pub fn without(&self, name: &str) -> Form {
        let mut params = self.params.clone();
        params.remove(name);
        Form { params }
    }

    /// The parameters form-encoded again (for a redirect that carries them to a GET).
    pub fn encode(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (name, values) in &self.params {
            for value in values {
                out.append_pair(name, value);
            }
        }
        out.finish()
    }

    /// Whether the parameter is present.
    pub fn has(&self, name: &str) -> bool {
        self.params.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_decodes() {
        let f = Form::parse(b"grant_type=client_credentials&scope=api1.read+api1.write&x=%C3%A9")
            .unwrap();
        assert_eq!(f.one("grant_type").unwrap(), Some("client_credentials"));
        assert_eq!(f.one("scope").unwrap(), Some("api1.read api1.write"));
        assert_eq!(f.one("x").unwrap(), Some("é"));
        assert_eq!(f.one("missing").unwrap(), None);
    }

    #[test]
    fn repeated_parameters_are_refused_except_where_allowed() {
        let f = Form::parse(b"scope=a&scope=b&resource=urn:a&resource=urn:b").unwrap();
        assert!(matches!(f.one("scope"), Err(OAuthError::InvalidRequest(_))));
        assert_eq!(f.all("resource"), ["urn:a", "urn:b"]);
    }

    #[test]
    fn empty_values_are_omitted() {
        let f = Form::parse(b"scope=&grant_type=x&&=v").unwrap();
        assert_eq!(f.one("scope").unwrap(), None);
        assert!(matches!(
            f.required("scope"),
            Err(OAuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert!(Form::parse(b"a=\xff").is_err());
        assert!(Form::parse(b"a=%FF%FE").is_err());
        assert!(Form::parse(b"%C3=1").is_err());
    }

    #[test]
    fn parameter_count_is_bounded() {
        let body: Vec<u8> = (0..=MAX_PARAMETERS)
            .map(|i| format!("p{i}=1&"))
            .collect::<String>()
            .into_bytes();
        assert!(Form::parse(&body).is_err());
    }
}
