"""The operations a job can run, from the registry."""

from fastapi import APIRouter

from vegafs import ops
from vegafs.api.auth import Principal, ReadPrincipal
from vegafs.api.problems import AUTH_RESPONSES
from vegafs.api.schemas import OperationOut

router = APIRouter(tags=["operations"], responses=AUTH_RESPONSES)


@router.get("/operations", summary="Operations and the JSON Schema of their params")
def list_operations(who: Principal = ReadPrincipal) -> list[OperationOut]:
    return [
        OperationOut(
            name=op.name,
            summary=op.summary,
            mutates=op.mutates,
            params_schema=op.params_schema(),
            result_schema=op.result.model_json_schema(),
            row_schema=op.row.model_json_schema() if op.row is not None else None,
        )
        for op in ops.all_operations()
    ]
