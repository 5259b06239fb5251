from pricing.main import build
from shared.service import run

run(build)
