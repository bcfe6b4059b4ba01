"""The `Message` texts the simulated server answers with, and their translations.

A real Comet Server translates `Message` into the server's (or the request's) language, so a client
that matches English wording breaks on a server set to Spanish. Codes (`ERR_...`) are not text and
are never translated. Templates use `{}` for the part that varies (a parameter name, a number).
"""

from __future__ import annotations

import re

__all__ = [
    "LANGUAGES",
    "OK",
    "POLICY_CHANGED",
    "POLICY_NOT_FOUND",
    "PROFILE_CHANGED",
    "UNAUTHORISED",
    "USER_EXISTS",
    "USER_NOT_FOUND",
    "translate",
]

OK = "OK"
UNAUTHORISED = "Unauthorised"
USER_NOT_FOUND = "User not found"
USER_EXISTS = "User already exists"
POLICY_NOT_FOUND = "Policy not found"
PROFILE_CHANGED = "The profile was modified since it was read"
POLICY_CHANGED = "The policy was modified since it was read"

LANGUAGES = ("en", "es")

# English template -> Spanish template. Every text the simulator can put in `Message` is here.
_SPANISH: dict[str, str] = {
    OK: "Correcto",
    UNAUTHORISED: "No autorizado",
    USER_NOT_FOUND: "Usuario no encontrado",
    USER_EXISTS: "El usuario ya existe",
    POLICY_NOT_FOUND: "Política no encontrada",
    PROFILE_CHANGED: "El perfil fue modificado después de leerlo",
    POLICY_CHANGED: "La política fue modificada después de leerla",
    "Invalid username: allowed characters are a-z A-Z 0-9 _ . @ -": (
        "Nombre de usuario no válido: los caracteres permitidos son a-z A-Z 0-9 _ . @ -"
    ),
    "Invalid username: must be at least {} characters": (
        "Nombre de usuario no válido: debe tener al menos {} caracteres"
    ),
    "Password must be at least {} characters": "La contraseña debe tener al menos {} caracteres",
    "No password recovery code is stored for this account": (
        "Esta cuenta no tiene guardado un código de recuperación de contraseña"
    ),
    "Missing required parameter '{}'": "Falta el parámetro obligatorio '{}'",
    "Invalid JSON in parameter '{}'": "JSON no válido en el parámetro '{}'",
    "Parameter '{}' must be a JSON object": "El parámetro '{}' debe ser un objeto JSON",
    "Unknown storage provider": "Proveedor de almacenamiento desconocido",
    "No such live connection": "No existe esa conexión activa",
    "Device not found": "Dispositivo no encontrado",
    "Invalid search query: {}": "Consulta de búsqueda no válida: {}",
    "Unknown platform '{}'": "Plataforma desconocida '{}'",
    "Unknown API endpoint '{}'": "Punto de acceso de la API desconocido '{}'",
    "Method not allowed: the admin API is POST only": (
        "Método no permitido: la API de administración solo acepta POST"
    ),
    "Internal server error (simulated)": "Error interno del servidor (simulado)",
}


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + "(.+?)".join(re.escape(part) for part in template.split("{}")) + "$", re.DOTALL)


_SPANISH_EXACT = {en: es for en, es in _SPANISH.items() if "{}" not in en}
_SPANISH_TEMPLATES = tuple((_pattern(en), es) for en, es in _SPANISH.items() if "{}" in en)


def translate(text: str, language: str) -> str:
    """`text` in `language`; codes and texts the table does not know are returned unchanged."""
    if language == "en":
        return text
    if language != "es":
        raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
    exact = _SPANISH_EXACT.get(text)
    if exact is not None:
        return exact
    for pattern, spanish in _SPANISH_TEMPLATES:
        match = pattern.match(text)
        if match is not None:
            return spanish.format(*match.groups())
    return text
