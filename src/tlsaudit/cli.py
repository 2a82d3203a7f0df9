"""Command line: parse options, call the runner, pick a renderer, map the verdict to exit code."""

from __future__ import annotations

import functools
import io
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from tlsaudit.errors import TlsauditError
from tlsaudit.inventory import STARTTLS_PROTOCOLS, parse_resolver, parse_target, read_list
from tlsaudit.models.findings import Verdict
from tlsaudit.models.report import Report
from tlsaudit.profiles import DEFAULT_PROFILE, Profile, builtin_ids, load_profile
from tlsaudit.render.formats import FileFormat
from tlsaudit.render.i18n import default_lang
from tlsaudit.render.json import render_schema
from tlsaudit.render.terminal import render_terminal, report_console
from tlsaudit.scan.options import ScanOptions
from tlsaudit.version import TOOL

EXIT_CODES = """Exit codes: 0 every target compliant; 1 some target not compliant;
2 usage error (bad option or profile); 3 some target could not be scanned or judged
(malformed or unresolvable target, unreachable, not TLS, a mandatory check
undeterminable) and none failed."""

app = typer.Typer(
    help="Audit TLS, mail and DNS configuration against the CRYPTREC TLS guideline."
    f"\n\n{EXIT_CODES}",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
profiles_app = typer.Typer(help="List and show the built-in policy profiles.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")


class OutputFormat(StrEnum):
    TERMINAL = "terminal"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"
    PROMETHEUS = "prometheus"


class Lang(StrEnum):
    EN = "en"
    JA = "ja"


ProfileOption = Annotated[
    str,
    typer.Option(
        "--profile",
        "-p",
        help="Built-in profile id (see `tlsaudit profiles list`) or a path to a TOML profile.",
    ),
]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Report format.")]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
]
LangOption = Annotated[
    Lang | None,
    typer.Option(
        "--lang", help="Report language (default: the locale's; LANG=ja_JP.UTF-8 gives ja)."
    ),
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Full tables: every finding, passing ones too.")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="The verdict line only.")]
CaFileOption = Annotated[
    Path | None,
    typer.Option("--ca-file", help="Extra trust anchors (PEM), e.g. a private CA.", exists=True),
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", min=0.5, help="Network timeout per connection, seconds.")
]
ResolverOption = Annotated[
    str | None,
    typer.Option("--resolver", help="DNS resolver ADDR[:PORT] or [V6]:PORT for every lookup."),
]
FullOption = Annotated[
    bool,
    typer.Option(
        "--full",
        help="Full scan: sslyze's one handshake per cipher suite and per curve, and every probe"
        " (the default compliance scan finds the same suites and groups by elimination and runs"
        " only the probes the profile reads).",
    ),
]


def _version(value: bool) -> None:
    if value:
        print(TOOL)
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_version),
    ] = False,
) -> None:
    """Audit TLS, mail and DNS configuration against the CRYPTREC TLS guideline."""


TargetsFileOption = Annotated[
    str | None,
    typer.Option(
        "--targets-file",
        metavar="FILE",
        help="Read targets from FILE, one per line, '#' comments ('-' = standard input).",
    ),
]


def gather(arguments: list[str] | None, targets_file: str | None) -> list[str]:
    """The targets of the command line and of --targets-file ('-' = stdin), each once, in
    order; none at all is a usage error."""
    given = list(arguments or [])
    sources = [name for name in (targets_file, *(["-"] if "-" in given else [])) if name]
    given = [t for t in given if t != "-"]
    try:
        for source in dict.fromkeys(sources):
            given += [target for _, target in read_list(source)]
    except TlsauditError as exc:
        fatal(str(exc))
    unique = list(dict.fromkeys(t.strip() for t in given))
    if not unique:
        fatal("no target given (arguments, '-' for standard input, or --targets-file)")
    return unique


def check_output(output: Path | None) -> None:
    """Refuse an --output that cannot be written before any scan (exit 2)."""
    if output is None:
        return
    folder = output.parent if str(output.parent) else Path(".")
    if output.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
        fatal(f"{output}: cannot write there (--output)")


def fatal(message: str, code: int = 2) -> NoReturn:
    Console(stderr=True, soft_wrap=True).print(
        f"tlsaudit: error: {message}", style="bold red", highlight=False, markup=False
    )
    raise typer.Exit(code)


@app.command()
def scan(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TARGET...",
            help="host, host:port, [v6]:port, https://host[:port], or smtp:// imap:// pop3:// "
            "ftp:// ldap:// xmpp:// xmpp_server:// postgres:// for STARTTLS; '-' reads them "
            "from standard input.",
            show_default=False,
        ),
    ] = None,
    targets_file: TargetsFileOption = None,
    profile: ProfileOption = DEFAULT_PROFILE,
    output_format: FormatOption = OutputFormat.TERMINAL,
    output: OutputOption = None,
    lang: LangOption = None,
    sni: Annotated[
        str | None, typer.Option("--sni", help="Server name to send (and check) instead.")
    ] = None,
    ip: Annotated[
        str | None, typer.Option("--ip", help="Connect to this address; send the name as SNI.")
    ] = None,
    starttls: Annotated[
        str | None,
        typer.Option(
            "--starttls",
            metavar="PROTO",
            help="STARTTLS protocol for targets without a scheme: "
            + ", ".join(STARTTLS_PROTOCOLS)
            + ".",
        ),
    ] = None,
    ca_file: CaFileOption = None,
    timeout: TimeoutOption = 5.0,
    verbose: VerboseOption = False,
    quiet: QuietOption = False,
    resolver: Annotated[
        str | None,
        typer.Option(
            "--resolver", help="DNS resolver ADDR[:PORT] for the CAA lookup of the scanned name."
        ),
    ] = None,
    full: FullOption = False,
    connections: Annotated[
        int,
        typer.Option(
            "--connections", min=1, max=32, help="TLS connections open at once to one endpoint."
        ),
    ] = 5,
) -> None:
    """Scan TLS endpoints and judge them against a profile.

    Examples: tlsaudit scan www.example.go.jp; tlsaudit scan 127.0.0.1:8443 --sni
    www.example.go.jp --ca-file corp-root.pem; tlsaudit scan --targets-file hosts.txt -f json
    """
    targets = gather(targets, targets_file)
    check_output(output)
    if ip is not None and len(targets) > 1:
        fatal("--ip applies to a single target")
    parse = functools.partial(parse_target, starttls=starttls, sni=sni, ip=ip)
    try:
        loaded = load_profile(profile)
        parse("localhost")  # validates --starttls, --sni and --ip before any scan
        address = parse_resolver(resolver) if resolver else None
    except TlsauditError as exc:
        fatal(str(exc))
    from tlsaudit.orchestrate import ScanInterrupted, audit  # loads when a scan starts

    options = ScanOptions(ca_file, timeout, address, connections_per_server=connections, full=full)
    try:
        with scanning_status(len(targets)) as progress:
            report = audit(targets, loaded, options=options, on_endpoint_done=progress, parse=parse)
    except TlsauditError as exc:  # e.g. a --ca-file that holds no certificate
        fatal(str(exc))
    except ScanInterrupted as stop:  # the finished targets are written; exit status 130
        Console(stderr=True).print("tlsaudit: interrupted", highlight=False, markup=False)
        finish(stop.report, output_format, output, lang, verbose=verbose, quiet=quiet, code=130)
    finish(report, output_format, output, lang, verbose=verbose, quiet=quiet)


class scanning_status:  # noqa: N801 - used as a context manager, reads like one
    """A spinner on stderr while scanning (only on a terminal); counts endpoints done."""

    def __init__(self, total_targets: int) -> None:
        self.console = Console(stderr=True)
        self.done = 0
        self.label = f"Scanning {total_targets} target(s)"
        self.status = self.console.status(self.label) if self.console.is_terminal else None

    def __enter__(self) -> scanning_status:
        if self.status is not None:
            self.status.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.status is not None:
            self.status.stop()

    def __call__(self, _facts: object) -> None:
        self.done += 1
        if self.status is not None:
            self.status.update(f"{self.label}: {self.done} endpoint(s) done")


def language(lang: Lang | None) -> str:
    """The report language: ``--lang``, else the locale's."""
    return lang.value if lang is not None else default_lang()


def finish(
    report: Report,
    output_format: OutputFormat,
    output: Path | None,
    lang: Lang | None,
    *,
    verbose: bool = False,
    quiet: bool = False,
    code: int | None = None,
) -> NoReturn:
    """Write the report to stdout, or to --output (the terminal then shows the verdict), and
    exit with ``code`` (default: the report's exit code) whoever reads standard output: a
    reader that closes the pipe early (``| head -1``) does not change the exit code."""
    from tlsaudit.orchestrate import exit_code
    from tlsaudit.render.outputs import render_as

    chosen = language(lang)
    try:
        if output_format is not OutputFormat.TERMINAL:
            fmt = FileFormat(output_format.value)
            text = render_as(report, fmt, lang=chosen, now=report.finished_at)
            if output is None:
                sys.stdout.write(text)
            else:
                write_file(output, text)
                render_terminal(report, report_console(), chosen, quiet=True)
        elif output is None:
            render_terminal(report, report_console(), chosen, verbose=verbose, quiet=quiet)
        else:
            buffer = io.StringIO()
            render_terminal(report, report_console(buffer, color=False), chosen, verbose=verbose)
            write_file(output, buffer.getvalue())
            render_terminal(report, report_console(), chosen, quiet=True)
        sys.stdout.flush()
    except (BrokenPipeError, SystemExit):  # rich turns a closed pipe into SystemExit(1)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise typer.Exit(exit_code(report) if code is None else code)


def write_file(path: Path, text: str) -> None:
    from tlsaudit.render.outputs import write_atomic

    try:
        write_atomic(path, text)
    except OSError as exc:
        fatal(f"{path}: cannot write: {exc.strerror}", code=3)


@app.command()
def domain(
    domains: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="DOMAIN...",
            help="Mail domain(s), e.g. example.go.jp; '-' reads them from standard input.",
            show_default=False,
        ),
    ] = None,
    targets_file: TargetsFileOption = None,
    profile: ProfileOption = DEFAULT_PROFILE,
    output_format: FormatOption = OutputFormat.TERMINAL,
    output: OutputOption = None,
    lang: LangOption = None,
    dkim_selector: Annotated[
        list[str] | None,
        typer.Option("--dkim-selector", help="DKIM selector to check (repeatable); common "
                     "selectors are probed as well."),
    ] = None,
    resolver: ResolverOption = None,
    trust_anchor: Annotated[
        Path | None,
        typer.Option("--trust-anchor", exists=True, dir_okay=False,
                     help="DS or DNSKEY records (zone-file format) to validate DNSSEC from."),
    ] = None,
    relay_test: Annotated[
        bool,
        typer.Option("--relay-test", help="Opt-in open-relay probe (stops at RCPT TO; no DATA)."),
    ] = False,
    relay_recipient: Annotated[
        str, typer.Option("--relay-recipient", help="External recipient for the relay probe.")
    ] = "relay-test@example.com",
    starttls_injection_test: Annotated[
        bool,
        typer.Option("--starttls-injection-test",
                     help="Opt-in STARTTLS command-injection probe (CVE-2011-0411; no DATA)."),
    ] = False,
    ca_file: CaFileOption = None,
    timeout: TimeoutOption = 5.0,
    full: FullOption = False,
    verbose: VerboseOption = False,
    quiet: QuietOption = False,
) -> None:  # fmt: skip
    """Audit mail domains: SPF, DKIM, DMARC, MX STARTTLS, MTA-STS, DANE, relay, and DNS.

    Examples: tlsaudit domain example.go.jp; tlsaudit domain example.go.jp
    --dkim-selector s1 -f json -o report.json
    """
    domains = gather(domains, targets_file)
    check_output(output)
    try:
        loaded = load_profile(profile)
        address = parse_resolver(resolver) if resolver else None
    except TlsauditError as exc:
        fatal(str(exc))
    from tlsaudit.orchestrate import audit_domains
    from tlsaudit.scan.dns import DnsOptions
    from tlsaudit.scan.dnsquery import lookup
    from tlsaudit.scan.mail import MailOptions

    scan_options = ScanOptions(ca_file=ca_file, timeout=timeout, resolver=address, full=full)
    probe = lookup(".", "NS", ScanOptions(timeout=timeout, resolver=address))
    if not probe.responded:  # one line, not a report of every lookup failing alike
        why = f"{probe.status.value}: {probe.reason}" if probe.reason else probe.status.value
        fatal(f"no DNS resolver answers ({why}); check the network or give --resolver", code=3)
    mail_options = MailOptions(
        scan=scan_options,
        dkim_selectors=tuple(dkim_selector or ()),
        relay_test=relay_test,
        relay_recipient=relay_recipient,
        starttls_injection_test=starttls_injection_test,
    )
    dns_options = DnsOptions(
        scan=ScanOptions(timeout=timeout, resolver=address), trust_anchor=trust_anchor
    )
    try:
        with scanning_status(len(domains)):
            report = audit_domains(
                domains, loaded, mail_options=mail_options, dns_options=dns_options
            )
    except TlsauditError as exc:
        fatal(str(exc))
    finish(report, output_format, output, lang, verbose=verbose, quiet=quiet)


@app.command()
def demo(
    lang: LangOption = None,
    output_format: FormatOption = OutputFormat.TERMINAL,
) -> None:
    """Start throw-away local TLS servers (one compliant, one not) and audit them (offline)."""
    from tlsaudit.demo import run_demo

    report = run_demo(language(lang))
    as_designed = [t.verdict for t in report.targets] == [Verdict.PASS, Verdict.FAIL]
    finish(report, output_format, None, lang, code=0 if as_designed else 3)


@app.command()
def schema() -> None:
    """Print the JSON Schema of `--format json` output."""
    sys.stdout.write(render_schema())


@profiles_app.command("list")
def profiles_list() -> None:
    """List the built-in profiles."""
    console = report_console()
    for profile_id in builtin_ids():
        loaded = load_or_exit(profile_id)
        marker = " (default)" if profile_id == DEFAULT_PROFILE else ""
        console.print(f"[bold]{profile_id}[/bold]{marker}  {loaded.name}  ({loaded.version})")


@profiles_app.command("show")
def profiles_show(
    profile: Annotated[str, typer.Argument(help="Profile id or path to a TOML profile.")],
    lang: LangOption = None,
) -> None:
    """Show every rule of a profile: level, parameters, citations."""
    from tlsaudit.render.profile import render_profile

    render_profile(load_or_exit(profile), report_console(), language(lang))


def load_or_exit(profile: str) -> Profile:
    try:
        return load_profile(profile)
    except TlsauditError as exc:
        fatal(str(exc))


from tlsaudit.cli_runs import register  # noqa: E402 - the asset-run commands need the above

register(app)


def main() -> None:
    app()
