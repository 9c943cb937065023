"""The staff console's pages over several domains: the review queue, banks, the audit log, actions, statements;
and the one public page of due process, where a user appeals from the link in a notice.

Pages only: each route calls a domain's service or application object and renders a template from
``console/templates`` through ``web.templating.render``. The review pages know no kind of item: what an item shows
and does comes from its registered ``ReviewKind`` (docs/review.md).
"""
