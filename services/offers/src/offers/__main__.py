from offers.main import build
from shared.service import run

run(build)
