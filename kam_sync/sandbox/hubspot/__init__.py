"""The HubSpot half of the sandbox: CRM v3 objects, search, properties, v4 associations.

`HubSpotApp` (in `app`) is the `CrmApp` the shared sandbox server runs; its state lives in
`HubSpotStore` and `PropertyRegistry`, which tests can change directly.
"""

from __future__ import annotations
