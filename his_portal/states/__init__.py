"""Page states that components use too (the 医生工作 workbench and its signing flow,
个人中心 and its seals). Rule: a page module owns its state unless a component needs
it; then the state lives here, and pages and components both import it. Components
never import pages."""
