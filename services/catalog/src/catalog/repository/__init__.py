"""Every SQL statement of the catalog, one repository per resource, on a unit of work's
connection (`uow.repository(ProductRepository)`)."""

from catalog.repository.accounts import AccountRepository, CapPolicy
from catalog.repository.coverage import CoverageRepository
from catalog.repository.imports import ImportRepository
from catalog.repository.products import ProductRepository
from catalog.repository.rules import RuleRepository
from catalog.repository.stock import StockRepository

__all__ = [
    "AccountRepository",
    "CapPolicy",
    "CoverageRepository",
    "ImportRepository",
    "ProductRepository",
    "RuleRepository",
    "StockRepository",
]
