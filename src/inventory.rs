//! Which hosts a command works on: the profile's `[[hosts]]`, or `--hosts a,b`, or a class
//! roster from `--hosts-file` (one address per line, or CSV `name,address[,user[,port]]`),
//! narrowed by `--limit` and `--only-failed`. Every problem is reported before any host is
//! contacted, a roster problem at its `FILE:LINE:COL`.

use std::collections::HashMap;
use std::path::Path;

use crate::cli::Targets;
use crate::config::login;
use crate::config::{Config, Host};
use crate::error::{Error, Result, Snippet};

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Read a roster file. The span of each field is kept to point at it in errors.
pub fn read_roster(path: &Path) -> Result<Vec<Host>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Usage {
        message: format!("--hosts-file {}: {e}", path.display()),
    })?;
    parse_roster(path, &text)
}

/// A roster's text (read from `path`, which errors name) as hosts.
pub fn parse_roster(path: &Path, text: &str) -> Result<Vec<Host>> {
    let text = text.to_string();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut hosts: Vec<Host> = Vec::new();
    let mut seen_names: HashMap<String, usize> = HashMap::new();
    let mut seen_addrs: HashMap<String, usize> = HashMap::new();
    let mut first = true;
    for record in reader.records() {
        let record = record.map_err(|e| {
            let offset = e.position().map_or(0, |p| p.byte() as usize);
            Error::Roster {
                message: format!("cannot read the roster: {e}"),
                snippet: Box::new(Snippet::new(path, &text, offset..offset + 1)),
            }
        })?;
        let pos = record.position().expect("records have positions");
        let line_start = pos.byte() as usize;
        let line = pos.line() as usize;
        let fields: Vec<&str> = record.iter().collect();
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        // A control character (a tab, NUL, ESC...) in a name, an address or a user would
        // end up in an ssh argument or a terminal line: refused where it is.
        for field in &fields {
            if let Some((i, c)) = login::control_char(field) {
                let line_text = &text[line_start..];
                let offset = line_text
                    .find(field)
                    .map_or(line_start, |f| line_start + f + i);
                return Err(Error::Roster {
                    message: format!(
                        "a control character, {}, is not allowed in a roster",
                        login::describe_control(c)
                    ),
                    snippet: Box::new(Snippet::new(path, &text, offset..offset + c.len_utf8())),
                });
            }
        }
        let was_first = std::mem::replace(&mut first, false);
        if was_first
            && fields.len() >= 2
            && fields[0].eq_ignore_ascii_case("name")
            && fields[1].eq_ignore_ascii_case("address")
        {
            continue;
        }
        // Point at a field by finding its text on the record's line.
        let at = |field: &str| -> Box<Snippet> {
            let line_text = &text[line_start..];
            let offset = line_text.find(field).map_or(line_start, |i| line_start + i);
            Box::new(Snippet::new(
                path,
                &text,
                offset..offset + field.len().max(1),
            ))
        };
        let (name, address, user, port) = match fields.as_slice() {
            [address] => (*address, *address, None, None),
            [name, address] => (*name, *address, None, None),
            [name, address, user] => (*name, *address, Some(*user), None),
            [name, address, user, port] => (*name, *address, Some(*user), Some(*port)),
            _ => {
                return Err(Error::Roster {
                    message: "expected `address` or `name,address[,user[,port]]`".into(),
                    snippet: at(fields[0]),
                });
            }
        };
        if name.is_empty() {
            // A name of only (Unicode) whitespace is trimmed away to nothing.
            return Err(Error::Roster {
                message: "the host name is empty (only whitespace?)".into(),
                snippet: at(name),
            });
        }
        if !valid_name(name) {
            return Err(Error::Roster {
                message: format!("`{name}` is not a host name (letters, digits, '.', '_', '-')"),
                snippet: at(name),
            });
        }
        if let Err(why) = login::address(address) {
            return Err(Error::Roster {
                message: why,
                snippet: at(address),
            });
        }
        if let Some(prev) = seen_names.insert(name.to_string(), line) {
            return Err(Error::Roster {
                message: format!("host `{name}` is listed twice (first on line {prev})"),
                snippet: at(name),
            });
        }
        if let Some(prev) = seen_addrs.insert(address.to_string(), line) {
            return Err(Error::Roster {
                message: format!("address `{address}` is listed twice (first on line {prev})"),
                snippet: at(address),
            });
        }
        let user = match user.filter(|u| !u.is_empty()) {
            Some(u) => match login::user(u) {
                Ok(()) => Some(u.to_string()),
                Err(why) => {
                    return Err(Error::Roster {
                        message: why,
                        snippet: at(u),
                    });
                }
            },
            None => None,
        };
        let port = match port.filter(|p| !p.is_empty()) {
            Some(p) => Some(p.parse::<u16>().map_err(|_| Error::Roster {
                message: format!("`{p}` is not a port"),
                snippet: at(p),
            })?),
            None => None,
        };
        hosts.push(Host {
            name: name.to_string(),
            address: Some(address.to_string()),
            user,
            port,
        });
    }
    if hosts.is_empty() {
        return Err(Error::Usage {
            message: format!("--hosts-file {}: no hosts in it", path.display()),
        });
    }
    Ok(hosts)
}

/// The hosts of this run. `failed_last` is the list of hosts that did not converge (failed
/// or were interrupted) in the runs since the last clean one, for `--only-failed`.
pub fn select(
    cfg: &Config,
    targets: &Targets,
    failed_last: Option<&[String]>,
) -> Result<Vec<Host>> {
    let mut hosts = if let Some(file) = &targets.hosts_file {
        read_roster(file)?
    } else if !targets.hosts.is_empty() {
        let mut seen = std::collections::HashSet::new();
        targets
            .hosts
            .iter()
            .map(|a| {
                let a = a.trim();
                let d = login::destination(a).map_err(|why| Error::Usage {
                    message: format!("--hosts: {why} (want `[user@]host[:port]`)"),
                })?;
                if !seen.insert(d.host.clone()) {
                    return Err(Error::Usage {
                        message: format!("--hosts: `{}` is given twice", d.host),
                    });
                }
                Ok(Host {
                    name: d.host.clone(),
                    address: Some(d.host),
                    user: d.user,
                    port: d.port,
                })
            })
            .collect::<Result<Vec<_>>>()?
    } else {
        cfg.hosts.clone()
    };
    if hosts.is_empty() {
        return Err(Error::Usage {
            message: format!(
                "{} lists no hosts: add a [[hosts]] entry or pass --hosts ADDRESS or --hosts-file FILE",
                cfg.path.display()
            ),
        });
    }
    if hosts.iter().any(|h| !h.is_local() && h.user.is_none()) && cfg.ssh.user.is_none() {
        return Err(Error::Usage {
            message: format!(
                "{}: no SSH user for the hosts: set `ssh.user` in the profile",
                cfg.path.display()
            ),
        });
    }
    if !targets.limit.is_empty() {
        for name in &targets.limit {
            if !hosts.iter().any(|h| &h.name == name) {
                let known: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
                let shown = if known.len() > 12 {
                    format!("{}, …", known[..12].join(", "))
                } else {
                    known.join(", ")
                };
                return Err(Error::Usage {
                    message: format!("--limit: no host named `{name}` (hosts: {shown})"),
                });
            }
        }
        hosts.retain(|h| targets.limit.contains(&h.name));
    }
    if let Some(failed) = failed_last {
        hosts.retain(|h| failed.contains(&h.name));
    }
    Ok(hosts)
}
