"""Continue a binary string: a short pattern-finding puzzle."""


def bit(rule, i):
    if rule == "thue_morse":
        return bin(i).count("1") % 2
    if rule == "square_positions":
        return 1 if int(i**0.5) ** 2 == i else 0
    raise ValueError(rule)


def sequence(rule, start, n):
    return "".join(str(bit(rule, i)) for i in range(start, start + n))


class TaskFamily:
    standard_version = "0.3.0"

    @staticmethod
    def get_tasks():
        return {"squares": {"rule": "square_positions", "shown": 40, "asked": 16}}

    @staticmethod
    def get_instructions(t):
        shown = sequence(t["rule"], 0, t["shown"])
        return (
            f"Here is the start of a binary string:\n\n{shown}\n\n"
            f"Submit the next {t['asked']} characters (only 0s and 1s, no spaces)."
        )

    @staticmethod
    def score(t, submission):
        answer = sequence(t["rule"], t["shown"], t["asked"])
        return 1.0 if "".join(submission.split()) == answer else 0.0
