"""Staff desks of the web UI that grew into modules of their own: the payer desk
(:mod:`careledger.web.desks.payer`) and the provider's prior-authorization requests
(:mod:`careledger.web.desks.provider_pa`). Each registers its pages like the other views."""
