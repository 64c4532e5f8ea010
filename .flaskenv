FLASK_APP=web:create_app
