//! The one error of every command, printed as kubectl prints it: what the
//! server refused (`Error from server (NotFound): ...`), what failed on
//! this side (`error: ...`), and kubectl's plain `No resources found`.
//!
//! It is typed, so that a caller decides on the variant (a refused write of
//! a manifest's object names its file, [`CliError::when`]) instead of
//! parsing a printed line again; each variant's `Display` is kubectl's
//! wording.

/// What a command failed with; `main` prints it on stderr and exits 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The apiserver answered with a `Status`: its code, reason and message.
    #[error("Error from server ({reason}): {message}")]
    Server { code: u16, reason: String, message: String },
    /// The same for a manifest's object: kubectl names what it was doing
    /// (`creating`, `applying`, `deleting`) and the file.
    #[error("Error from server ({reason}): error when {verb} \"{file}\": {message}")]
    ServerWhen { reason: String, message: String, verb: &'static str, file: String },
    /// The apiserver could not be asked (connection, TLS, kubeconfig).
    #[error("error: {0}")]
    Transport(#[source] kube::Error),
    /// A body that is not the JSON it should be, either way.
    #[error("error: {0}")]
    Json(#[from] serde_json::Error),
    /// An object that cannot be printed as YAML (`-o yaml`).
    #[error("error: {0}")]
    Yaml(#[from] serde_yaml::Error),
    /// A request that cannot be built, e.g. a name that is no URL segment
    /// (printed bare, as it always was here).
    #[error("{0}")]
    Request(#[from] http::Error),
    /// A type name that no served resource answers to.
    #[error("error: the server doesn't have a resource type \"{0}\"")]
    UnknownType(String),
    /// A manifest file that is not YAML or JSON.
    #[error("error: error parsing {file}: {source}")]
    Parse { file: String, source: serde_yaml::Error },
    /// A manifest's document that is no object kubectl would send.
    #[error("error: error validating \"{file}\": error validating data: {detail}")]
    Invalid { file: String, detail: String },
    /// A file or directory of `-f` that cannot be read.
    #[error("error: {path}: {source}")]
    Read { path: String, source: std::io::Error },
    /// Standard input (`-f -`) that cannot be read.
    #[error("error: {0}")]
    Stdin(#[source] std::io::Error),
    /// Nothing to print, in a namespace or in all of them.
    #[error("No resources found{}", in_namespace(.namespace.as_deref()))]
    NoResources { namespace: Option<String> },
    /// Several objects of `-f` failed: one line each, after the others were
    /// written (kubectl does not stop at the first).
    #[error("{}", lines(.0))]
    Several(Vec<CliError>),
    /// Everything else kubectl refuses, in its words after `error: `.
    #[error("error: {0}")]
    Other(String),
}

fn in_namespace(namespace: Option<&str>) -> String {
    namespace.map(|ns| format!(" in {ns} namespace.")).unwrap_or_default()
}

fn lines(errors: &[CliError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

impl CliError {
    /// A refused write of a manifest's object, worded as kubectl words it:
    /// the verb and the file are named; other errors stay as they are.
    pub fn when(self, verb: &'static str, file: &str) -> Self {
        match self {
            CliError::Server { reason, message, .. } => {
                CliError::ServerWhen { reason, message, verb, file: file.into() }
            }
            other => other,
        }
    }
}

/// The server's `Status` becomes [`CliError::Server`]; any other failure
/// of the client is [`CliError::Transport`].
impl From<kube::Error> for CliError {
    fn from(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(s) => CliError::Server { code: s.code, reason: s.reason, message: s.message },
            other => CliError::Transport(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worded_as_kubectl() {
        let not_found =
            || CliError::Server { code: 404, reason: "NotFound".into(), message: "services \"nope\" not found".into() };
        assert_eq!(not_found().to_string(), r#"Error from server (NotFound): services "nope" not found"#);
        assert_eq!(
            not_found().when("creating", "svc.yaml").to_string(),
            r#"Error from server (NotFound): error when creating "svc.yaml": services "nope" not found"#
        );
        assert_eq!(
            CliError::UnknownType("widgets".into()).when("creating", "x").to_string(),
            r#"error: the server doesn't have a resource type "widgets""#
        );
        assert_eq!(CliError::NoResources { namespace: None }.to_string(), "No resources found");
        assert_eq!(
            CliError::NoResources { namespace: Some("lab".into()) }.to_string(),
            "No resources found in lab namespace."
        );
        let several = CliError::Several(vec![not_found(), CliError::Other("resource name may not be empty".into())]);
        assert_eq!(
            several.to_string(),
            "Error from server (NotFound): services \"nope\" not found\nerror: resource name may not be empty"
        );
    }
}
