"""MATH-500 (Lightman et al., 2023): the 500-problem test subset of Hendrycks' MATH, graded through math-verify.

Records: {"problem", "solution", "answer", "subject", "level", "unique_id"} (the PRM800K split; hub id
HuggingFaceH4/MATH-500). The answer is LaTeX; a model's answer is read by math-verify (base.extract_math: its
last \\boxed{...}, else its stated answer or last expression) and graded on its value (verifiers.answer).
"""

from __future__ import annotations

from dataclasses import dataclass

from ponder.tasks import base

# The four exemplars of Minerva (Lewkowycz et al., 2022), for base models.
SHOTS = (
    ("Find the domain of the expression $\\frac{\\sqrt{x-2}}{\\sqrt{5-x}}$.",
     "The expressions inside each square root must be non-negative. Therefore, $x-2 \\ge 0$, so $x\\ge2$, and "
     "$5 - x \\ge 0$, so $x \\le 5$. Also, the denominator cannot be equal to zero, so $5-x>0$, which gives "
     "$x<5$. Therefore, the domain of the expression is $\\boxed{[2,5)}$."),
    ("If $\\det \\mathbf{A} = 2$ and $\\det \\mathbf{B} = 12,$ then find $\\det (\\mathbf{A} \\mathbf{B}).$",
     "We have that $\\det (\\mathbf{A} \\mathbf{B}) = (\\det \\mathbf{A})(\\det \\mathbf{B}) = (2)(12) = "
     "\\boxed{24}.$"),
    ("Terrell usually lifts two 20-pound weights 12 times. If he uses two 15-pound weights instead, how many "
     "times must Terrell lift them in order to lift the same total weight?",
     "If Terrell lifts two 20-pound weights 12 times, he lifts a total of $2\\cdot 12\\cdot20=480$ pounds of "
     "weight. If he lifts two 15-pound weights instead for $n$ times, he will lift a total of "
     "$2\\cdot15\\cdot n=30n$ pounds of weight. Equating this to 480 pounds, we can solve for $n$: "
     "$30n=480$, so $n=480/30=\\boxed{16}$."),
    ("If the system of equations $6x-4y=a$, $6y-9x=b$ has a solution $(x, y)$ where $x$ and $y$ are both "
     "nonzero, find $\\frac{a}{b},$ assuming $b$ is nonzero.",
     "If we multiply the first equation by $-\\frac{3}{2}$, we obtain $6y-9x=-\\frac{3}{2}a$. Since we also know "
     "that $6y-9x=b$, we have $-\\frac{3}{2}a=b$, so $\\frac{a}{b}=\\boxed{-\\frac{2}{3}}$."),
)


@dataclass(frozen=True)
class Problem(base.Problem):
    def extract(self, text: str) -> str | None:
        return base.extract_math(text)


def load(source: str, style: str = "chat") -> list[Problem]:
    return [Problem(record.get("unique_id", f"math500/{line - 1}"), record["problem"], record["answer"],
                    record["solution"], int(record.get("level") or 0), **base.prompting(style, SHOTS))
            for line, record in base.read_records(source, ("problem", "solution", "answer"))]
