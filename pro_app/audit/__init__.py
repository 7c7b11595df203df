"""The append-only audit log."""


def init_app(app):
    from pro_app.audit import views

    app.register_blueprint(views.bp)

    @app.context_processor
    def _audit_words():
        from pro_app.alerts.timeline import rule_wording
        from pro_app.audit import wording
        from pro_app.i18n import label, select_language
        from pro_app.questionnaires import current_instruments

        def audit_changes(data):
            return wording.changes(data, lambda rule: rule_wording(rule, current_instruments(), select_language()),
                                   label)

        return {"audit_action": wording.action_words, "audit_actor": wording.actor_words,
                "audit_changes": audit_changes}
