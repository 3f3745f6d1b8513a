//! Password hashing with Argon2id at the OWASP parameters (m = 19 MiB, t = 2, p = 1).

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, Version};

use crate::crypto::random_bytes;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The password is empty.
    #[error("the password is empty")]
    Empty,
    /// The hasher failed (random source or parameters).
    #[error("password hashing failed")]
    Hashing,
}

fn argon2id() -> Result<Argon2<'static>, PasswordError> {
    // OWASP Password Storage Cheat Sheet: Argon2id, m=19456 KiB, t=2, p=1.
    let params = Params::new(19_456, 2, 1, None).map_err(|_| PasswordError::Hashing)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    let salt_bytes = random_bytes(16).map_err(|_| PasswordError::Hashing)?;
    argon2id()?
        .hash_password_with_salt(password.as_bytes(), &salt_bytes)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hashing)
}

/// Largest memory cost accepted from a stored hash (KiB): a hostile hash cannot make one
/// verification allocate more than this.
const MAX_M_COST: u32 = 256 * 1024;

thread_local! {
    /// The Argon2 working memory, kept per thread between verifications: allocating and
    /// zeroing 19 MiB anew for each one costs about as much kernel time (page faults) as a
    /// third of the hash itself.
    static MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Frees this thread's Argon2 working memory (kept between verifications, see `MEMORY`).
pub fn release_memory() {
    MEMORY.with(|memory| {
        if let Ok(mut memory) = memory.try_borrow_mut() {
            *memory = Vec::new();
        }
    });
}

/// True when `password` matches the PHC `hash`; false for a wrong password or a bad hash.
/// The parameters are read from the hash, so older hashes keep verifying. The comparison of
/// the outputs is constant-time.
pub fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    if params.m_cost() > MAX_M_COST {
        return false;
    }
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut buffer = [0u8; 64];
    let Some(out) = buffer.get_mut(..expected.len()) else {
        return false;
    };
    let computed = MEMORY.with(|memory| {
        let Ok(mut memory) = memory.try_borrow_mut() else {
            return false;
        };
        memory.resize(blocks, argon2::Block::new());
        argon2
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt.as_ref(),
                out,
                &mut memory[..blocks],
            )
            .is_ok()
    });
    computed && crate::crypto::constant_time_eq(out, expected.as_bytes())
}

/// True when `hash` is a well-formed Argon2 PHC string.
pub fn is_argon2_hash(hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| h.algorithm.as_str().starts_with("argon2"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(is_argon2_hash(&h));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        // Verified by the argon2 crate's own verifier too, and older parameters still verify.
        use argon2::PasswordVerifier as _;
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        let weak = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x10,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password_with_salt(b"pw", b"saltsaltsalt")
        .unwrap()
        .to_string();
        assert!(verify_password("pw", &weak));
        assert!(!verify_password("pw2", &weak));
        // A hostile memory cost is refused without allocating it.
        let hostile = weak.replace("m=1024", "m=4194304");
        assert!(!verify_password("pw", &hostile));
    }

    #[test]
    fn empty_password_is_refused() {
        assert!(matches!(hash_password(""), Err(PasswordError::Empty)));
    }
}
