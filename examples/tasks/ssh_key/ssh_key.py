"""Which file holds your SSH key? A seconds-long task."""

import os
import shutil


def _own(path):
    for base, dirs, files in os.walk(path):
        shutil.chown(base, "agent", "agent")
        for f in files:
            shutil.chown(os.path.join(base, f), "agent", "agent")


FILES = {
    "notes.txt": "Remember: rotate the deploy credentials every quarter.\n",
    "id_ed25519.pub": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9mYWtla2V5Zm9yYmFzZWxpbmluZ3Rhc2tzb25seQ agent@box\n",
    "known_hosts": "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
    "config": "Host build\n    HostName build.internal\n    User deploy\n    IdentityFile ~/.ssh/id_ed25519\n",
    "backup.dat": (
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
        "QyNTUxOQAAACBvZmFrZWtleWZvcmJhc2VsaW5pbmd0YXNrc29ubHkAAAAAAAAAAAAAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----\n"
    ),
    "cert.pem": "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUZmFrZQ==\n-----END CERTIFICATE-----\n",
}


class TaskFamily:
    standard_version = "0.3.0"

    @staticmethod
    def get_tasks():
        return {"find_key": {"answer": "backup.dat"}}

    @staticmethod
    def get_instructions(t):
        return (
            "The directory /home/agent/keys holds several files. Exactly one of them contains an SSH "
            "private key.\n\nSubmit the name of that file (just the file name, e.g. notes.txt)."
        )

    @staticmethod
    def get_permissions(t):
        return []

    @staticmethod
    def start(t):
        os.makedirs("/home/agent/keys", exist_ok=True)
        for name, text in FILES.items():
            with open(f"/home/agent/keys/{name}", "w") as f:
                f.write(text)
        _own("/home/agent/keys")

    @staticmethod
    def score(t, submission):
        return 1.0 if os.path.basename(submission.strip()) == t["answer"] else 0.0
