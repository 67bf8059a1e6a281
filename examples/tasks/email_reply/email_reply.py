"""Pick the reasonable reply to an email: tens of seconds."""

EMAILS = {
    "meeting": {
        "email": (
            "From: Dana Whitfield <dana@northwind.example>\n"
            "Subject: Tuesday's review\n\n"
            "Hi, I have to move Tuesday's design review: something came up with the customer. Could we do "
            "Thursday at 10:00 or Friday at 15:00 instead? Whichever works better for you.\nDana"
        ),
        "replies": {
            "A": "Thanks for letting me know. Thursday at 10:00 works for me; I'll move the invite.",
            "B": "We already agreed on Tuesday. Please keep to the schedule.",
            "C": "Sounds good, see you Tuesday then!",
            "D": "What review? I don't think I'm involved in any design review.",
        },
        "answer": "A",
    },
    "refund": {
        "email": (
            "From: Sam Okafor <sam.okafor@example.org>\n"
            "Subject: Charged twice for order #48213\n\n"
            "Hello, my card was charged twice (2 x $59.00) for order #48213 on March 3rd. I've attached the "
            "bank statement. Can you refund the duplicate charge?\nThanks, Sam"
        ),
        "replies": {
            "A": "Our records show one order, so there is nothing we can do.",
            "B": "Thanks Sam, and sorry about that. I can see the duplicate $59.00 charge on #48213 and have "
                 "refunded it; it should reach your card within 5 business days.",
            "C": "Please send us your full card number and PIN so we can verify the charge.",
            "D": "Refunds are handled by the shipping department. Please contact them.",
        },
        "answer": "B",
    },
}


class TaskFamily:
    standard_version = "0.3.0"

    @staticmethod
    def get_tasks():
        return {name: dict(e, name=name) for name, e in EMAILS.items()}

    @staticmethod
    def get_instructions(t):
        options = "\n".join(f"  {k}) {v}" for k, v in t["replies"].items())
        return (
            "You received this email:\n\n"
            f"{t['email']}\n\n"
            f"Which reply is the reasonable one to send?\n\n{options}\n\n"
            "Submit the letter of the reply (A, B, C or D)."
        )

    @staticmethod
    def score(t, submission):
        return 1.0 if submission.strip().upper().rstrip(")") == t["answer"] else 0.0
