//! Man pages from clap definitions: one page per program and one per subcommand, each with
//! the shared EXIT STATUS table and the program's ENVIRONMENT, FILES and SEE ALSO.

use std::fmt::Write as _;

use clap_mangen::Man;
use clap_mangen::roff::{Roff, roman};
use oqto_cli::{COMMON_ENV, Exit, ManExtra};

/// `(file name, roff)` for the program and, recursively, each of its subcommands.
pub fn pages(cmd: clap::Command, extra: &ManExtra) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = cmd;
    cmd.build();
    let version = cmd
        .get_version()
        .unwrap_or(env!("CARGO_PKG_VERSION"))
        .to_owned();
    let mut out = Vec::new();
    collect(&cmd, cmd.get_name(), &version, extra, &mut out)?;
    Ok(out)
}

fn collect(
    cmd: &clap::Command,
    page_name: &str,
    version: &str,
    extra: &ManExtra,
    out: &mut Vec<(String, Vec<u8>)>,
) -> anyhow::Result<()> {
    // Subcommand pages are named `program-sub` and carry the program's version.
    let named = cmd
        .clone()
        .name(page_name.to_owned())
        .version(version.to_owned());
    out.push((format!("{page_name}.1"), render(&named, extra)?));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let sub_page = format!("{page_name}-{}", sub.get_name());
        collect(sub, &sub_page, version, extra, out)?;
    }
    Ok(())
}

fn render(cmd: &clap::Command, extra: &ManExtra) -> anyhow::Result<Vec<u8>> {
    let man = Man::new(cmd.clone());
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut buf)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut buf)?;
    }
    let mut text = String::from_utf8(buf)?;
    if let Some(after) = cmd.get_after_long_help().or(cmd.get_after_help()) {
        text.push_str(".SH EXAMPLES\n.nf\n");
        text.push_str(&escape(&after.to_string()));
        text.push_str("\n.fi\n");
    }
    text.push_str(".SH \"EXIT STATUS\"\n");
    text.push_str(&Exit::man_section());
    text.push_str(".SH ENVIRONMENT\n");
    for (name, meaning) in COMMON_ENV.iter().chain(extra.environment) {
        let _ = write!(text, ".TP\n\\fB{name}\\fR\n{}\n", escape(meaning));
    }
    if !extra.files.is_empty() {
        text.push_str(".SH FILES\n");
        for (path, meaning) in extra.files {
            let _ = write!(text, ".TP\n\\fI{}\\fR\n{}\n", escape(path), escape(meaning));
        }
    }
    if !extra.see_also.is_empty() {
        text.push_str(".SH \"SEE ALSO\"\n");
        text.push_str(&extra.see_also.join(", "));
        text.push('\n');
    }
    let mut version = Vec::new();
    man.render_version_section(&mut version)?;
    text.push_str(&String::from_utf8(version)?);
    Ok(text.into_bytes())
}

/// Escapes text for roff (backslashes, leading dots and quotes) via the roff crate.
fn escape(s: &str) -> String {
    let mut roff = Roff::new();
    roff.text([roman(s)]);
    let rendered = roff.to_roff();
    rendered.trim_end_matches('\n').to_owned()
}
