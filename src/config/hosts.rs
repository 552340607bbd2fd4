//! `[[hosts]]`: the targets a profile names.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::field::{Source, check_address, check_label, check_user, sourced};
use crate::error::Result;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    pub name: Spanned<String>,
    pub address: Spanned<String>,
    pub user: Option<Spanned<String>>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    /// `None` for the local machine.
    pub address: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
}

impl Host {
    pub fn is_local(&self) -> bool {
        self.address.is_none()
    }
}

/// The hosts of the most specific layer that lists any; none at all means this machine,
/// unless the profile is about SSH (then the hosts come from `--hosts`, and an empty
/// inventory is reported when one is needed).
pub fn section(
    listed: Option<(&[RawHost], &std::sync::Arc<Source>)>,
    remote: bool,
) -> Result<Vec<Host>> {
    let Some((raw, src)) = listed else {
        if remote {
            return Ok(Vec::new());
        }
        return Ok(vec![Host {
            name: "local".into(),
            address: None,
            user: None,
            port: None,
        }]);
    };
    let at = |s: &Spanned<String>| sourced(s, src);
    let mut out: Vec<Host> = Vec::new();
    for h in raw {
        let name = at(&h.name);
        check_label(&name, "hosts.name")?;
        let address = at(&h.address);
        let is_local = address.value == "local";
        if !is_local {
            check_address(&address, "hosts.address")?;
        }
        if out.iter().any(|o| o.name == name.value) {
            return Err(name.invalid(
                "hosts.name",
                format!("host `{}` is listed twice", name.value),
            ));
        }
        if !is_local
            && out
                .iter()
                .any(|o| o.address.as_deref() == Some(address.value.as_str()) && o.port == h.port)
        {
            return Err(address.invalid(
                "hosts.address",
                format!("address `{}` is listed twice", address.value),
            ));
        }
        let user = h.user.as_ref().map(at);
        if let Some(u) = &user {
            check_user(u, "hosts.user")?;
        }
        out.push(Host {
            name: name.value,
            address: (!is_local).then_some(address.value),
            user: user.map(|u| u.value),
            port: h.port,
        });
    }
    Ok(out)
}
