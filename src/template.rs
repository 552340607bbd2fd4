//! A template shipped in the binary. A leaf, so that steps, bundles and the renderer can all
//! name one without depending on each other.

/// A template shipped in the binary: its name (as tera `include` sees it) and text.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub name: &'static str,
    pub text: &'static str,
}

/// `template!("steps/x.sh")`: a file under `templates/`, included at build time.
macro_rules! template {
    ($path:literal) => {
        $crate::template::Template {
            name: $path,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $path)),
        }
    };
}
pub(crate) use template;
