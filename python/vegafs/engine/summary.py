"""CoreSummary: the base of the summary models the core's streams end with.

``Model.model_validate(stream.summary())`` reads the core's summary object, whose attributes
have the model's field names (``schema_version`` aside; errors become ``EntryError`` dicts);
a dict (a job's stored summary) validates as usual.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from vegafs.engine.plain import summary_fields


class CoreSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _from_native(cls, data: Any) -> Any:
        if isinstance(data, dict | BaseModel):
            return data
        return cls.native_fields(data)

    @classmethod
    def native_fields(cls, native: Any) -> dict[str, Any]:
        """The fields read from the core's object; a model whose fields need more overrides it."""
        return summary_fields(native, cls.model_fields)
