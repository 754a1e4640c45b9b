//! Password hashing with argon2id and OWASP's recommended parameters
//! (19 MiB memory, 2 iterations, 1 lane).
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes on a blocking thread: argon2 is deliberately slow and must not stall the executor.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
}

/// Verifies a password against a stored hash. With no stored hash (unknown account) it still
/// spends the time of one verification, so response times do not reveal which accounts exist.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => verify_blocking(&password, &stored),
        None => {
            let _ = verify_blocking(&password, dummy_hash());
            false
        }
    })
    .await
    .unwrap_or(false)
}

fn verify_blocking(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        // The parameters come from the stored hash, so older hashes keep verifying.
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("not a real password").expect("hashing works"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_argon2id() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery".into(), Some(h.clone())).await);
        assert!(!verify("wrong".into(), Some(h)).await);
        assert!(!verify("x".into(), None).await);
        assert!(!verify("x".into(), Some("garbage".into())).await);
    }
}
