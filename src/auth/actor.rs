//! Who is asking: the role and the scope every service call checks.
use serde::{Deserialize, Serialize};

use crate::error::{AppError, Msg};
use crate::web::i18n::Lang;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Users, roles, provider settings, API tokens, audit log; sees everything.
    Admin,
    /// VSS communication staff: national (no province) or one province.
    Staff,
    /// School liaison: only the schools assigned to them.
    Liaison,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Staff, Role::Liaison];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::Liaison => "liaison",
        }
    }

    pub fn parse(raw: &str) -> Result<Role, Msg> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "staff" => Ok(Role::Staff),
            "liaison" => Ok(Role::Liaison),
            _ => Err(Msg::new("error-one-of").arg("allowed", "admin, staff, liaison")),
        }
    }
}

/// How the actor proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthVia {
    Session {
        session_id: i64,
        token_hash: String,
    },
    ApiToken {
        token_id: i64,
    },
    /// An operator at the command line (`hi-outreach user create`, imports run by hand).
    Cli,
}

/// What part of the organisation map an actor may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    National,
    Province(i64),
    Schools(Vec<i64>),
}

#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<i64>,
    /// The account's e-mail, or "cli"; shown in the audit log, never written to the logs.
    pub label: String,
    pub display_name: String,
    pub role: Role,
    pub province_id: Option<i64>,
    pub school_ids: Vec<i64>,
    pub lang: Lang,
    pub via: AuthVia,
    /// The request this actor is acting in, for the audit log.
    pub request_id: Option<String>,
}

impl Actor {
    /// The operator at the command line: full rights, recorded as "cli" in the audit log.
    pub fn cli() -> Self {
        Self {
            user_id: None,
            label: "cli".into(),
            display_name: "cli".into(),
            role: Role::Admin,
            province_id: None,
            school_ids: Vec::new(),
            lang: Lang::Vi,
            via: AuthVia::Cli,
            request_id: None,
        }
    }

    pub fn scope(&self) -> Scope {
        match self.role {
            Role::Admin => Scope::National,
            Role::Staff => match self.province_id {
                Some(p) => Scope::Province(p),
                None => Scope::National,
            },
            Role::Liaison => Scope::Schools(self.school_ids.clone()),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Staff and admins change the organisation map; liaisons only read it.
    pub fn require_map_editor(&self) -> Result<(), AppError> {
        match self.role {
            Role::Admin | Role::Staff => Ok(()),
            Role::Liaison => Err(AppError::Forbidden),
        }
    }

    /// Whether a school in `province_id` with id `school_id` is inside this actor's scope.
    pub fn sees_school(&self, school_id: i64, province_id: i64) -> bool {
        match self.scope() {
            Scope::National => true,
            Scope::Province(p) => p == province_id,
            Scope::Schools(ids) => ids.contains(&school_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role, province: Option<i64>, schools: Vec<i64>) -> Actor {
        Actor {
            user_id: Some(1),
            label: "x".into(),
            display_name: "x".into(),
            role,
            province_id: province,
            school_ids: schools,
            lang: Lang::Vi,
            via: AuthVia::Cli,
            request_id: None,
        }
    }

    #[test]
    fn scopes() {
        assert!(actor(Role::Admin, None, vec![]).sees_school(1, 2));
        assert!(actor(Role::Staff, None, vec![]).sees_school(1, 2));
        assert!(actor(Role::Staff, Some(2), vec![]).sees_school(1, 2));
        assert!(!actor(Role::Staff, Some(3), vec![]).sees_school(1, 2));
        assert!(actor(Role::Liaison, None, vec![1]).sees_school(1, 2));
        assert!(!actor(Role::Liaison, None, vec![1]).sees_school(5, 2));
        assert!(actor(Role::Liaison, None, vec![1])
            .require_map_editor()
            .is_err());
    }

    #[test]
    fn roles_parse() {
        assert_eq!(Role::parse(" Staff ").unwrap(), Role::Staff);
        assert!(Role::parse("root").is_err());
    }
}
