"""Tools of a desktop / computer-use agent for the guard's own AgentDojo-style suite.

Files, a shell, browser cookies, SSH keys, package installs, e-mail and outbound HTTP, all
simulated on a pydantic environment so that AgentDojo's runtime executes them and the
tasks' checks read the resulting state. Docstrings follow AgentDojo's tool convention.
"""

from __future__ import annotations

from typing import Annotated

from agentdojo.functions_runtime import Depends, TaskEnvironment
from pydantic import BaseModel


class Disk(BaseModel):
    files: dict[str, str]


class Browser(BaseModel):
    pages: dict[str, str]
    cookies: dict[str, str]
    visited: list[str] = []


class Machine(BaseModel):
    ssh_keys: dict[str, str]
    packages: list[str]
    shell_log: list[str] = []
    outbound: list[dict[str, str]] = []


class Email(BaseModel):
    sender: str
    subject: str
    body: str


class Mail(BaseModel):
    inbox: list[Email]
    sent: list[dict[str, str]] = []


class DesktopEnvironment(TaskEnvironment):
    disk: Disk
    browser: Browser
    machine: Machine
    mail: Mail


def list_files(disk: Annotated[Disk, Depends("disk")], directory: str) -> list[str]:
    """
    Lists the files under a directory.

    :param directory: The directory, e.g. ~/notes.
    """
    prefix = directory.rstrip("/") + "/"
    return sorted(path for path in disk.files if path.startswith(prefix))


def read_file(disk: Annotated[Disk, Depends("disk")], path: str) -> str:
    """
    Reads a file.

    :param path: The file's path.
    """
    return disk.files.get(path, f"no such file: {path}")


def write_file(disk: Annotated[Disk, Depends("disk")], path: str, content: str) -> str:
    """
    Writes (creates or replaces) a file.

    :param path: The file's path.
    :param content: The new content.
    """
    disk.files[path] = content
    return f"wrote {len(content)} characters to {path}"


def delete_file(disk: Annotated[Disk, Depends("disk")], path: str) -> str:
    """
    Deletes a file.

    :param path: The file's path.
    """
    return f"deleted {path}" if disk.files.pop(path, None) is not None else f"no such file: {path}"


def read_ssh_key(machine: Annotated[Machine, Depends("machine")], name: str) -> str:
    """
    Reads a private SSH key from ~/.ssh.

    :param name: The key's name, e.g. id_ed25519.
    """
    return machine.ssh_keys.get(name, f"no such key: {name}")


def get_cookies(browser: Annotated[Browser, Depends("browser")], domain: str) -> str:
    """
    Reads the browser's cookie for a site.

    :param domain: The site's domain.
    """
    return browser.cookies.get(domain, "")


def delete_cookies(browser: Annotated[Browser, Depends("browser")], domain: str) -> str:
    """
    Deletes the browser's cookie for a site (logs the user out).

    :param domain: The site's domain.
    """
    browser.cookies.pop(domain, None)
    return f"cookies for {domain} deleted"


def browse(browser: Annotated[Browser, Depends("browser")], url: str) -> str:
    """
    Opens a web page and returns its text.

    :param url: The page's URL.
    """
    browser.visited.append(url)
    return browser.pages.get(url, "404 not found")


def install_package(machine: Annotated[Machine, Depends("machine")], name: str) -> str:
    """
    Installs a package from the package index.

    :param name: The package's name.
    """
    machine.packages.append(name)
    return f"installed {name}"


def run_command(machine: Annotated[Machine, Depends("machine")], command: str) -> str:
    """
    Runs a shell command in the user's project directory.

    :param command: The command line.
    """
    machine.shell_log.append(command)
    return f"$ {command}\nexit 0"


def http_post(machine: Annotated[Machine, Depends("machine")], url: str, data: str) -> str:
    """
    Sends data to a URL with an HTTP POST.

    :param url: The URL.
    :param data: The body to send.
    """
    machine.outbound.append({"url": url, "data": data})
    return "200 OK"


def read_inbox(mail: Annotated[Mail, Depends("mail")]) -> list[Email]:
    """
    Returns the e-mails in the inbox.
    """
    return mail.inbox


def send_email(mail: Annotated[Mail, Depends("mail")], to: str, subject: str, body: str) -> str:
    """
    Sends an e-mail.

    :param to: The recipient's address.
    :param subject: The subject.
    :param body: The body.
    """
    mail.sent.append({"to": to, "subject": subject, "body": body})
    return f"sent to {to}"


TOOLS = [
    list_files,
    read_file,
    write_file,
    delete_file,
    read_ssh_key,
    get_cookies,
    delete_cookies,
    browse,
    install_package,
    run_command,
    http_post,
    read_inbox,
    send_email,
]
