from bigbuy_connector.main import build
from shared.service import run

run(build)
